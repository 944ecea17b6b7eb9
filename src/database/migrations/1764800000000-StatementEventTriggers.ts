import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The feed's `run` and `runner` events for runs' state changes are written once per statement,
 * not once per row. The grouped claim and complete statements change 10 to 15 runs each; the
 * row-level trigger of the Events migration ran, per run, one INSERT of the run event and one
 * call of `pulse_runner_event` (itself an INSERT) for each runner the run left or entered
 * `running` on: three statements per run inside the statement that holds the runs locked.
 *
 * `run_event` becomes a statement-level trigger with transition tables: all the run events of
 * the statement in one INSERT ... SELECT (the old and new rows joined on id, where the state
 * differs), all the runner events in another, joined to `runner`. Same rows, same jsonb.
 *
 * - PostgreSQL refuses transition tables on a trigger with a column list (`UPDATE OF state`), so
 *   it fires on every UPDATE of `run`, log appends included: the function first asks whether
 *   any state changed (one probe of the transition tables) and returns at once when none did.
 * - Old and new rows are paired with a FULL JOIN (every updated row is in both tables, so it
 *   pairs exactly like an inner join), and the runner events' pairs go through a MATERIALIZED
 *   CTE so that no strict condition turns it back into an inner join. PL/pgSQL keeps one plan per
 *   query for the session, made for the transition tables' sizes at the first call: an inner
 *   join planned for a one-row log append became a nested loop, and a later 10,000-run cancel
 *   took 26 s in it. A full join can only be a hash or merge join, whatever the estimate.
 * - Order: the run events by `run.seq`, then the runner events that a run left (by `run.seq`),
 *   then those it entered. So for one run: its run event, its old runner's, its new runner's;
 *   and a runner both left and entered in one statement gets its "entered" event last.
 */
export class StatementEventTriggers1764800000000 implements MigrationInterface {
  name = 'StatementEventTriggers1764800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`DROP TRIGGER run_event ON run`);
    await q.query(`DROP FUNCTION pulse_run_changed()`);
    await q.query(`
      CREATE FUNCTION pulse_runs_changed() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NOT EXISTS (SELECT 1 FROM old_runs o FULL JOIN new_runs n ON n.id = o.id WHERE o.state IS DISTINCT FROM n.state) THEN
          RETURN NULL;
        END IF;
        INSERT INTO event (kind, namespace, batch_id, data)
        SELECT 'run', n.namespace, n.batch_id, jsonb_build_object(
                 'id', n.id, 'batch_id', n.batch_id, 'host', n.runner_id, 'state', n.state, 'repo', n.repo,
                 'logs', n.log_stored, 'exit_code', n.exit_code, 'attempt', n.attempt,
                 'created_at', pulse_iso(n.created_at), 'started_at', pulse_iso(n.started_at),
                 'finished_at', pulse_iso(n.finished_at), 'namespace', n.namespace,
                 'pending_reason', CASE WHEN n.state = 'waiting' THEN pulse_pending_reason(n) END)
        FROM old_runs o FULL JOIN new_runs n ON n.id = o.id
        WHERE o.state IS DISTINCT FROM n.state
        ORDER BY n.seq;
        WITH changed AS MATERIALIZED (
          SELECT n.seq, n.id, n.state, n.runner_id, o.state AS old_state, o.runner_id AS old_runner
          FROM old_runs o FULL JOIN new_runs n ON n.id = o.id
          WHERE o.state IS DISTINCT FROM n.state
        )
        INSERT INTO event (kind, data)
        SELECT 'runner', jsonb_build_object(
                 'runner_id', u.id, 'name', u.name,
                 'state', CASE WHEN u.state = 'dead' OR u.deregistered_at IS NOT NULL THEN 'dead'
                               WHEN c.run_id IS NOT NULL THEN 'running' ELSE 'waiting' END,
                 'enabled', u.enabled, 'current_run', c.run_id, 'labels', to_jsonb(u.labels),
                 'last_heartbeat_at', pulse_iso(u.last_heartbeat_at),
                 'deregistered', u.deregistered_at IS NOT NULL)
        FROM (SELECT 1 AS side, seq, old_runner AS runner_id, NULL::uuid AS run_id
              FROM changed WHERE old_state = 'running' AND old_runner IS NOT NULL
              UNION ALL
              SELECT 2, seq, runner_id, id
              FROM changed WHERE state = 'running' AND runner_id IS NOT NULL) c
        JOIN runner u ON u.id = c.runner_id
        ORDER BY c.side, c.seq;
        RETURN NULL;
      END $$`);
    await q.query(`
      CREATE TRIGGER run_event AFTER UPDATE ON run REFERENCING OLD TABLE AS old_runs NEW TABLE AS new_runs
      FOR EACH STATEMENT EXECUTE FUNCTION pulse_runs_changed()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TRIGGER run_event ON run`);
    await q.query(`DROP FUNCTION pulse_runs_changed()`);
    // The row-level trigger of the Events migration, as it was.
    await q.query(`
      CREATE FUNCTION pulse_run_changed() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO event (kind, namespace, batch_id, data) VALUES ('run', NEW.namespace, NEW.batch_id, jsonb_build_object(
          'id', NEW.id, 'batch_id', NEW.batch_id, 'host', NEW.runner_id, 'state', NEW.state, 'repo', NEW.repo,
          'logs', NEW.log_stored, 'exit_code', NEW.exit_code, 'attempt', NEW.attempt,
          'created_at', pulse_iso(NEW.created_at), 'started_at', pulse_iso(NEW.started_at),
          'finished_at', pulse_iso(NEW.finished_at), 'namespace', NEW.namespace,
          'pending_reason', CASE WHEN NEW.state = 'waiting' THEN pulse_pending_reason(NEW) END));
        IF OLD.state = 'running' AND OLD.runner_id IS NOT NULL THEN
          PERFORM pulse_runner_event(OLD.runner_id, NULL);
        END IF;
        IF NEW.state = 'running' AND NEW.runner_id IS NOT NULL THEN
          PERFORM pulse_runner_event(NEW.runner_id, NEW.id);
        END IF;
        RETURN NULL;
      END $$`);
    await q.query(`
      CREATE TRIGGER run_event AFTER UPDATE OF state ON run
      FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state) EXECUTE FUNCTION pulse_run_changed()`);
  }
}
