import { Module, OnModuleInit } from '@nestjs/common';
import { RunModule } from '../run/run.module';
import { SweepTimer } from '../run/run.sweeper';
import { WorkloadModule } from '../workload/workload.module';
import { InstanceController } from './instance.controller';
import { InstanceProtocol } from './instance-protocol';
import { InstanceService } from './instance.service';
import { InstanceSweeper } from './instance.sweeper';
import { Placement } from './placement';

/** Instances (SPEC section 10): CRUD, placement, the heartbeat's instance half, the sweep. Below runner. */
@Module({
  imports: [WorkloadModule, RunModule],
  controllers: [InstanceController],
  providers: [InstanceService, Placement, InstanceProtocol, InstanceSweeper],
  exports: [InstanceService, InstanceProtocol, Placement],
})
export class InstanceModule implements OnModuleInit {
  constructor(
    private readonly sweeper: InstanceSweeper,
    private readonly timer: SweepTimer,
  ) {}

  onModuleInit(): void {
    this.timer.register(async () => {
      await this.sweeper.sweep();
    });
  }
}
