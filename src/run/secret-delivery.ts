import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { KeyRingError } from '../secret/secret-crypto';
import { SecretService } from '../secret/secret.service';
import { LogService } from './log.service';
import type { RunRow } from './run.entity';
import { RunState } from './run-state';

/** A run ready to hand out: with secrets, `env` holds their values and `masked` their names. */
export type DeliverableRun = RunRow & { masked?: string[] };

/**
 * Puts a run's secrets into its assignment, at the moment it is handed to a runner (and each
 * time the same offer is made again): values are decrypted here and nowhere else. A run whose
 * secret was deleted meanwhile fails now, with the reason `secret NAME was deleted`, and is not
 * handed out. Runs without secrets pass through untouched (no query). The values also go to
 * this process's log masking of the lease (LogService.primeMasking): not decrypted again there.
 */
@Injectable()
export class SecretDelivery {
  private readonly logger = new Logger('Secrets');

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly secrets: SecretService,
    private readonly logs: LogService,
  ) {}

  async prepare(run: RunRow | undefined): Promise<DeliverableRun | undefined> {
    if (!run || !run.secrets || run.secrets.length === 0) return run;
    let reason: string;
    try {
      const { values, missing } = await this.secrets.openFor(run.namespace, run.secrets);
      if (missing === undefined) {
        this.logs.primeMasking(run, values);
        return { ...run, env: { ...run.env, ...Object.fromEntries(values) }, masked: run.secrets };
      }
      reason = `secret ${missing} was deleted`;
    } catch (err) {
      if (!(err instanceof KeyRingError)) throw err;
      // A damaged row or one moved from elsewhere (the start-up check vouched for the keys).
      this.logger.error(`run ${run.id}: ${err.message}`);
      reason = 'a secret of the run cannot be decrypted';
    }
    await this.db.query(
      `UPDATE run SET state = '${RunState.Failed}', finished_at = now(), reason = $3
       WHERE id = $1 AND message_id = $2 AND state = '${RunState.Running}'`,
      [run.id, run.message_id, reason],
    );
    return undefined;
  }
}
