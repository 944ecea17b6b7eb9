import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { NamespaceController } from './namespace.controller';
import { Namespace } from './namespace.entity';
import { NamespaceService } from './namespace.service';

@Module({
  imports: [TypeOrmModule.forFeature([Namespace])],
  controllers: [NamespaceController],
  providers: [NamespaceService],
  exports: [NamespaceService],
})
export class NamespaceModule {}
