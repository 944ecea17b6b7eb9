import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Workloads and instances (SPEC section 10).
 *
 * - `workload`: a named template (image, command, environment, resources, ports, labels).
 * - `instance`: one long-running container, with its own copy of the template's fields. The
 *   server keeps the desired state (`desired`: RUNNING, STOPPED or DESTROYED) and what the runner
 *   last reported (`reported`); `status` is derived from both by one pure function
 *   (src/instance/instance-status.ts) at every write, so lists can filter on it and the feed's
 *   trigger sees it change. `generation` grows when the runner must (re)create the container (a
 *   retry after FAILED, a changed image, environment, resources or ports).
 * - Every change of `status` (or of `description` or `runner_id`) is an `instance` event.
 */
export class Instances1764700000000 implements MigrationInterface {
  name = 'Instances1764700000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE workload (
        id          uuid PRIMARY KEY,
        seq         bigserial NOT NULL,
        name        text NOT NULL UNIQUE,
        type        text NOT NULL DEFAULT 'CONTAINER',
        uri         text NOT NULL,
        command     text[],
        environment text[] NOT NULL DEFAULT '{}',
        res_cpu     integer NOT NULL DEFAULT 0,
        res_memory  integer NOT NULL DEFAULT 0,
        res_disk    integer NOT NULL DEFAULT 0,
        ports       text[] NOT NULL DEFAULT '{}',
        labels      text[] NOT NULL DEFAULT '{}',
        created_at  timestamptz NOT NULL DEFAULT now(),
        updated_at  timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE UNIQUE INDEX workload_seq ON workload (seq)`);
    await q.query(`
      CREATE TABLE instance (
        id             uuid PRIMARY KEY,
        seq            bigserial NOT NULL,
        name           text NOT NULL,
        type           text NOT NULL DEFAULT 'CONTAINER',
        uri            text NOT NULL,
        command        text[],
        environment    text[] NOT NULL DEFAULT '{}',
        res_cpu        integer NOT NULL DEFAULT 0,
        res_memory     integer NOT NULL DEFAULT 0,
        res_disk       integer NOT NULL DEFAULT 0,
        ports          text[] NOT NULL DEFAULT '{}',
        labels         text[] NOT NULL DEFAULT '{}',
        workload_id    uuid REFERENCES workload (id) ON DELETE SET NULL,
        desired        text NOT NULL CHECK (desired IN ('RUNNING', 'STOPPED', 'DESTROYED')),
        reported       text,
        status         text NOT NULL,
        generation     integer NOT NULL DEFAULT 1,
        runner_id      uuid REFERENCES runner (id) ON DELETE SET NULL,
        ip             text,
        published      text[] NOT NULL DEFAULT '{}',
        restarts       integer NOT NULL DEFAULT 0,
        description    text NOT NULL DEFAULT '',
        pending_reason text,
        placed_at      timestamptz,
        reported_at    timestamptz,
        created_at     timestamptz NOT NULL DEFAULT now(),
        updated_at     timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE UNIQUE INDEX instance_seq ON instance (seq)`);
    await q.query(`CREATE INDEX instance_status ON instance (status, seq)`);
    await q.query(`CREATE INDEX instance_workload ON instance (workload_id) WHERE status <> 'TERMINATED'`);
    await q.query(`CREATE INDEX instance_runner ON instance (runner_id) WHERE status <> 'TERMINATED'`);
    await q.query(`CREATE INDEX instance_scheduling ON instance (seq) WHERE status = 'SCHEDULING'`);

    await q.query(`
      CREATE FUNCTION pulse_instance_changed() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO event (kind, data) VALUES ('instance', jsonb_build_object(
          'id', NEW.id, 'name', NEW.name, 'status', NEW.status, 'state', NEW.desired,
          'description', NEW.description, 'runner_id', NEW.runner_id, 'workload_id', NEW.workload_id,
          'ip', NEW.ip, 'ports', to_jsonb(NEW.published), 'restarts', NEW.restarts,
          'pending_reason', NEW.pending_reason, 'updated_at', pulse_iso(NEW.updated_at)));
        RETURN NULL;
      END $$`);
    await q.query(`CREATE TRIGGER instance_created AFTER INSERT ON instance FOR EACH ROW EXECUTE FUNCTION pulse_instance_changed()`);
    await q.query(`
      CREATE TRIGGER instance_event AFTER UPDATE ON instance FOR EACH ROW
      WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.description IS DISTINCT FROM NEW.description
            OR OLD.runner_id IS DISTINCT FROM NEW.runner_id OR OLD.desired IS DISTINCT FROM NEW.desired)
      EXECUTE FUNCTION pulse_instance_changed()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE instance`);
    await q.query(`DROP FUNCTION pulse_instance_changed()`);
    await q.query(`DROP TABLE workload`);
  }
}
