import { Global, Inject, Injectable, Module } from '@nestjs/common';
import type { PulseConfig } from '../config/config';
import { PULSE_CONFIG } from '../config/config.module';
import { CursorCodec } from './pagination';

/** Signs and checks list cursors with a key every orchestrator process shares. */
@Injectable()
export class Cursors extends CursorCodec {
  constructor(@Inject(PULSE_CONFIG) config: PulseConfig) {
    super(`pulse-cursor:${config.adminToken}`);
  }
}

@Global()
@Module({ providers: [Cursors], exports: [Cursors] })
export class CommonModule {}
