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
import { RetentionSweeper } from './retention.sweeper';
import { SecretDelivery } from './secret-delivery';

@Module({
  imports: [TypeOrmModule.forFeature([Run]), NamespaceModule, BatchModule, SecretModule],
  controllers: [RunController, BatchCancelController],
  providers: [
    RunRepository,
    RunService,
    DispatchService,
    LogService,
    ResultService,
    RunSweeper,
    SweepTimer,
    RetentionSweeper,
    SecretDelivery,
  ],
  exports: [RunService, DispatchService, LogService, ResultService, SweepTimer, SecretDelivery],
})
export class RunModule implements OnModuleInit {
  constructor(
    private readonly sweeper: RunSweeper,
    private readonly timer: SweepTimer,
    private readonly metrics: MetricsService,
    private readonly retention: RetentionSweeper,
  ) {}

  onModuleInit(): void {
    this.timer.register(async () => {
      const changed = await this.sweeper.sweep();
      for (const [reason, n] of Object.entries(changed)) this.metrics.inc('pulse_sweeps_total', n, { reason });
    });
    this.timer.register(async () => {
      const pruned = await this.retention.sweep();
      for (const what of ['logs', 'runs', 'batches'] as const) {
        if (pruned[what] > 0) this.metrics.inc('pulse_retention_deleted_total', pruned[what], { what });
      }
    });
  }
}
