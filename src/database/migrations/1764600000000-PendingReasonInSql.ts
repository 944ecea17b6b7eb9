import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `pulse_pending_reason(run)` becomes the one definition of a waiting run's `pending_reason`:
 * `GET /api/runs/{id}` calls it as the feed's `run` events do (the Events migration's first
 * version predates executors and namespace-bound runners, and RunService had a copy in TS).
 *
 * A runner can take the run when it is registered, carries the run's labels, has its framework,
 * room for its resources (a runner that declared none takes any), the executor it needs (image:
 * the container executor on a healthy engine; no image: the shell executor or a default image),
 * and, if it is bound to namespaces (its registration token's), the run's namespace.
 */
export class PendingReasonInSql1764600000000 implements MigrationInterface {
  name = 'PendingReasonInSql1764600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE OR REPLACE FUNCTION pulse_pending_reason(r run) RETURNS text LANGUAGE plpgsql STABLE AS $$
      DECLARE
        c record;
        bound bigint;
        needs text[] := '{}';
      BEGIN
        SELECT count(*) AS matching,
               count(*) FILTER (WHERE capable) AS registered,
               count(*) FILTER (WHERE capable AND enabled) AS enabled,
               count(*) FILTER (WHERE capable AND enabled AND state <> 'dead') AS alive,
               count(*) FILTER (WHERE capable AND enabled AND state <> 'dead' AND NOT EXISTS (
                 SELECT 1 FROM run h WHERE h.runner_id = w.id AND h.state = 'running')) AS idle
        INTO c
        FROM (SELECT u.*, CASE WHEN r.image IS NULL THEN u.can_shell ELSE u.can_container END AS capable
              FROM runner u) w
        WHERE w.deregistered_at IS NULL AND r.labels <@ w.labels
          AND (r.framework IS NULL OR w.framework_name = r.framework)
          AND (w.res_cpu IS NULL OR r.res_cpu <= w.res_cpu)
          AND (w.res_memory IS NULL OR r.res_memory <= w.res_memory)
          AND (w.res_disk IS NULL OR r.res_disk <= w.res_disk)
          AND (w.namespaces IS NULL OR r.namespace = ANY(w.namespaces));
        IF c.matching = 0 THEN
          SELECT count(*) INTO bound FROM runner w
          WHERE w.deregistered_at IS NULL AND r.labels <@ w.labels AND NOT (r.namespace = ANY(w.namespaces));
          IF bound > 0 THEN
            RETURN 'no registered runner takes runs of namespace "' || r.namespace || '": ' || bound
              || ' runner(s) with its labels are bound to other namespaces';
          END IF;
          IF cardinality(r.labels) > 0 THEN needs := needs || ('labels [' || array_to_string(r.labels, ', ') || ']'); END IF;
          IF r.framework IS NOT NULL THEN needs := needs || ('framework "' || r.framework || '"'); END IF;
          IF r.res_cpu <> 0 OR r.res_memory <> 0 OR r.res_disk <> 0 THEN
            needs := needs || ('resources cpu ' || r.res_cpu || ', memory ' || r.res_memory || ' MiB, disk ' || r.res_disk || ' MiB');
          END IF;
          IF r.image IS NOT NULL THEN needs := needs || ('a container engine for image ' || r.image); END IF;
          RETURN 'no registered runner matches this run'
            || CASE WHEN cardinality(needs) > 0 THEN ' (it needs ' || array_to_string(needs, '; ') || ')' ELSE '' END;
        END IF;
        IF c.registered = 0 THEN
          IF r.image IS NOT NULL THEN
            RETURN 'no matching runner can run it in a container (image ' || r.image || '): none reported the container'
              || ' executor with a healthy container engine in its last heartbeat';
          END IF;
          RETURN 'no matching runner runs scripts without an image: none has the shell executor or a default image'
            || ' on a healthy container engine';
        END IF;
        IF c.enabled = 0 THEN RETURN 'every runner that matches this run is disabled'; END IF;
        IF c.alive = 0 THEN RETURN 'every runner that matches this run is dead (no recent heartbeat)'; END IF;
        IF c.idle = 0 THEN RETURN 'waiting for a free runner: all ' || c.alive || ' matching runner(s) are busy'; END IF;
        RETURN 'waiting for one of ' || c.idle || ' idle matching runner(s) to poll';
      END $$`);
  }

  async down(): Promise<void> {
    // The first version (Events migration) is still correct for runners without executors or
    // namespaces; nothing to undo that would not lose the newer words.
  }
}
