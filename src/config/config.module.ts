import { DynamicModule, Global, Module } from '@nestjs/common';
import type { PulseConfig } from './config';

/** Injection token of the validated `PulseConfig`. */
export const PULSE_CONFIG = Symbol('PULSE_CONFIG');

@Global()
@Module({})
export class ConfigModule {
  static forRoot(config: PulseConfig): DynamicModule {
    return {
      module: ConfigModule,
      providers: [{ provide: PULSE_CONFIG, useValue: config }],
      exports: [PULSE_CONFIG],
    };
  }
}
