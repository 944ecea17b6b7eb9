import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The whole first schema. Reviewed SQL, no `synchronize`.
 *
 * - `run.state` follows src/run/run-state.ts; the CHECK keeps stray values out.
 * - `run_one_running_per_runner` is the database's own guarantee that a runner never holds two
 *   runs, whatever any number of orchestrator processes do.
 * - `run_waiting_queue` is partial: a claim reads only waiting rows, never the finished history.
 * - Logs are stored as append-only chunks keyed by their stored byte offset.
 */
export class Init1763900000000 implements MigrationInterface {
  name = 'Init1763900000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE namespace (
        name          text PRIMARY KEY,
        repositories  text[] NOT NULL DEFAULT '{}',
        created_at    timestamptz NOT NULL DEFAULT now(),
        updated_at    timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE TABLE batch (
        id          uuid PRIMARY KEY,
        namespace   text NOT NULL,
        created_at  timestamptz NOT NULL DEFAULT now(),
        seq         bigserial UNIQUE
      )`);
    await q.query(`CREATE INDEX batch_namespace ON batch (namespace, seq)`);
    await q.query(`
      CREATE TABLE runner (
        id                 uuid PRIMARY KEY,
        name               text NOT NULL,
        token_hash         bytea NOT NULL UNIQUE,
        labels             text[] NOT NULL DEFAULT '{}',
        framework          jsonb,
        framework_name     text,
        system             jsonb,
        res_cpu            integer,
        res_memory         integer,
        res_disk           integer,
        usage              jsonb,
        ip                 text,
        enabled            boolean NOT NULL DEFAULT true,
        state              text NOT NULL DEFAULT 'waiting' CHECK (state IN ('waiting', 'running', 'dead')),
        deregistered_at    timestamptz,
        last_heartbeat_at  timestamptz,
        registered_at      timestamptz NOT NULL DEFAULT now(),
        seq                bigserial UNIQUE
      )`);
    await q.query(`
      CREATE TABLE run (
        id                   uuid PRIMARY KEY,
        batch_id             uuid NOT NULL REFERENCES batch (id),
        namespace            text NOT NULL,
        repo                 text NOT NULL,
        script               text[] NOT NULL,
        env                  jsonb NOT NULL DEFAULT '{}',
        payload              jsonb,
        timeout              integer NOT NULL,
        labels               text[] NOT NULL DEFAULT '{}',
        framework            text,
        res_cpu              integer NOT NULL DEFAULT 0,
        res_memory           integer NOT NULL DEFAULT 0,
        res_disk             integer NOT NULL DEFAULT 0,
        priority             integer NOT NULL DEFAULT 0,
        max_attempts         integer NOT NULL,
        attempt              integer NOT NULL DEFAULT 0,
        state                text NOT NULL DEFAULT 'waiting'
                             CHECK (state IN ('waiting', 'running', 'canceled', 'finished', 'failed', 'timeout')),
        runner_id            uuid REFERENCES runner (id),
        message_id           uuid,
        acknowledged         boolean NOT NULL DEFAULT false,
        cancel_requested_at  timestamptz,
        reason               text,
        exit_code            integer,
        result               jsonb,
        log_offset           bigint NOT NULL DEFAULT 0,
        log_stored           bigint NOT NULL DEFAULT 0,
        created_at           timestamptz NOT NULL DEFAULT now(),
        dispatched_at        timestamptz,
        started_at           timestamptz,
        finished_at          timestamptz,
        seq                  bigserial UNIQUE
      )`);
    await q.query(`CREATE UNIQUE INDEX run_one_running_per_runner ON run (runner_id) WHERE state = 'running'`);
    await q.query(`CREATE INDEX run_waiting_queue ON run (namespace, priority DESC, seq) WHERE state = 'waiting'`);
    await q.query(`CREATE INDEX run_running_namespace ON run (namespace) WHERE state = 'running'`);
    await q.query(`CREATE INDEX run_batch ON run (batch_id, seq)`);
    await q.query(`CREATE INDEX run_runner ON run (runner_id, seq)`);
    await q.query(`CREATE INDEX run_state_seq ON run (state, seq)`);
    await q.query(`
      CREATE TABLE run_log_chunk (
        run_id  uuid NOT NULL REFERENCES run (id) ON DELETE CASCADE,
        pos     bigint NOT NULL,
        data    bytea NOT NULL,
        PRIMARY KEY (run_id, pos)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE run_log_chunk`);
    await q.query(`DROP TABLE run`);
    await q.query(`DROP TABLE runner`);
    await q.query(`DROP TABLE batch`);
    await q.query(`DROP TABLE namespace`);
  }
}
