import { DynamicModule, Module } from '@nestjs/common';
import { AuthModule } from './auth/auth.module';
import { BatchModule } from './batch/batch.module';
import { CommonModule } from './common/common.module';
import type { PulseConfig } from './config/config';
import { ConfigModule } from './config/config.module';
import type { DatabaseTarget } from './database/data-source-options';
import { DatabaseModule } from './database/database.module';
import { EventModule } from './event/event.module';
import { HealthModule } from './health/health.module';
import { InstanceModule } from './instance/instance.module';
import { MetricsModule } from './metrics/metrics.module';
import { NamespaceModule } from './namespace/namespace.module';
import { RunModule } from './run/run.module';
import { RunnerModule } from './runner/runner.module';
import { SecretModule } from './secret/secret.module';
import { WorkloadModule } from './workload/workload.module';

@Module({})
export class AppModule {
  static forRoot(config: PulseConfig, target: DatabaseTarget): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        DatabaseModule.forRoot(target),
        CommonModule,
        AuthModule,
        MetricsModule,
        NamespaceModule,
        SecretModule,
        BatchModule,
        RunModule,
        RunnerModule,
        HealthModule,
        EventModule,
        WorkloadModule,
        InstanceModule,
      ],
    };
  }
}
