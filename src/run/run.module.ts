import { Module, OnModuleInit } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { MetricsService } from '../metrics/metrics.service';
import { BatchModule } from '../batch/batch.module';
import { NamespaceModule } from '../namespace/namespace.module';
import { SecretModule } from '../secret/secret.module';
import { DispatchService } from './dispatch.service';
import { LogService } from './log.service';
import { ResultService } from './result.service';
import { BatchCancelController, RunController } from './run.controller';
import { Run } from './run.entity';
import { RunRepository } from './run.repository';
import { RunService } from './run.service';
import { RunSweeper, SweepTimer } from './run.sweeper';
import { SecretDelivery } from './secret-delivery';

@Module({
  imports: [TypeOrmModule.forFeature([Run]), NamespaceModule, BatchModule, SecretModule],
  controllers: [RunController, BatchCancelController],
  providers: [RunRepository, RunService, DispatchService, LogService, ResultService, RunSweeper, SweepTimer, SecretDelivery],
  exports: [RunService, DispatchService, LogService, ResultService, SweepTimer, SecretDelivery],
})
export class RunModule implements OnModuleInit {
  constructor(
    private readonly sweeper: RunSweeper,
    private readonly timer: SweepTimer,
    private readonly metrics: MetricsService,
  ) {}

  onModuleInit(): void {
    this.timer.register(async () => {
      const changed = await this.sweeper.sweep();
      for (const [reason, n] of Object.entries(changed)) this.metrics.inc('pulse_sweeps_total', n, { reason });
    });
  }
}
