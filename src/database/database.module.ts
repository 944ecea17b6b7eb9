import { DynamicModule, Global, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DATABASE_TARGET } from './database.tokens';
import { DatabaseTarget, dataSourceOptions } from './data-source-options';
import { WorkSignal } from './work-signal';

@Global()
@Module({})
export class DatabaseModule {
  static forRoot(target: DatabaseTarget): DynamicModule {
    return {
      module: DatabaseModule,
      imports: [TypeOrmModule.forRoot({ ...dataSourceOptions(target), autoLoadEntities: true })],
      providers: [{ provide: DATABASE_TARGET, useValue: target }, WorkSignal],
      exports: [DATABASE_TARGET, WorkSignal],
    };
  }
}
