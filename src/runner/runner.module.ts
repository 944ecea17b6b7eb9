import { Module, OnModuleInit } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { InstanceModule } from '../instance/instance.module';
import { MetricsService } from '../metrics/metrics.service';
import { RunModule } from '../run/run.module';
import { SweepTimer } from '../run/run.sweeper';
import { HeartbeatService } from './heartbeat.service';
import { RunnerCache } from './runner-cache';
import { RunnerTokenService } from './runner-token.service';
import { RunnerAuthGuard } from './runner-auth.guard';
import { RunnerProtocolController } from './runner-protocol.controller';
import { RunnerController } from './runner.controller';
import { Runner } from './runner.entity';
import { RunnerService } from './runner.service';
import { RunnerSweeper } from './runner.sweeper';

@Module({
  imports: [TypeOrmModule.forFeature([Runner]), RunModule, InstanceModule],
  controllers: [RunnerProtocolController, RunnerController],
  providers: [RunnerService, RunnerTokenService, HeartbeatService, RunnerAuthGuard, RunnerSweeper, RunnerCache],
  exports: [RunnerService],
})
export class RunnerModule implements OnModuleInit {
  constructor(
    private readonly sweeper: RunnerSweeper,
    private readonly timer: SweepTimer,
    private readonly metrics: MetricsService,
  ) {}

  onModuleInit(): void {
    this.timer.register(async () => {
      const { dead, released } = await this.sweeper.sweep();
      this.metrics.inc('pulse_sweeps_total', dead, { reason: 'runner_dead' });
      this.metrics.inc('pulse_sweeps_total', released, { reason: 'runner_lost' });
    });
  }
}
