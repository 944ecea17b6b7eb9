import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `pulse_runner_event` (the runner event written when a run enters or leaves `running`, from the
 * run trigger of the Events migration) becomes PL/pgSQL. As a SQL-language function that is not
 * inlined it was planned again on every call: 0.39 ms a call in the dispatch bench's
 * auto_explain, twice per run, inside the grouped claim and complete statements that hold their
 * rows locked. PL/pgSQL keeps the plan of its INSERT for the session. Same rows, same words.
 */
export class RunnerEventPlpgsql1764650000000 implements MigrationInterface {
  name = 'RunnerEventPlpgsql1764650000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE OR REPLACE FUNCTION pulse_runner_event(p_runner uuid, p_run uuid) RETURNS void LANGUAGE plpgsql VOLATILE AS $$
      BEGIN
        INSERT INTO event (kind, data)
        SELECT 'runner', jsonb_build_object(
                 'runner_id', u.id, 'name', u.name,
                 'state', CASE WHEN u.state = 'dead' OR u.deregistered_at IS NOT NULL THEN 'dead'
                               WHEN p_run IS NOT NULL THEN 'running' ELSE 'waiting' END,
                 'enabled', u.enabled, 'current_run', p_run, 'labels', to_jsonb(u.labels),
                 'last_heartbeat_at', pulse_iso(u.last_heartbeat_at),
                 'deregistered', u.deregistered_at IS NOT NULL)
        FROM runner u WHERE u.id = p_runner;
      END $$`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE OR REPLACE FUNCTION pulse_runner_event(p_runner uuid, p_run uuid) RETURNS void LANGUAGE sql VOLATILE AS $$
        INSERT INTO event (kind, data)
        SELECT 'runner', jsonb_build_object(
                 'runner_id', u.id, 'name', u.name,
                 'state', CASE WHEN u.state = 'dead' OR u.deregistered_at IS NOT NULL THEN 'dead'
                               WHEN p_run IS NOT NULL THEN 'running' ELSE 'waiting' END,
                 'enabled', u.enabled, 'current_run', p_run, 'labels', to_jsonb(u.labels),
                 'last_heartbeat_at', pulse_iso(u.last_heartbeat_at),
                 'deregistered', u.deregistered_at IS NOT NULL)
        FROM runner u WHERE u.id = p_runner
      $$`);
  }
}
