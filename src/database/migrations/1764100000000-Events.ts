import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The event feed (SPEC section 8, docs/events.md).
 *
 * Events are written by triggers, in the transaction of the change they describe, so every code
 * path is covered (the grouped claim and complete statements included):
 * - `run`: a run entered a state (AFTER UPDATE OF state); the runner it entered or left `running`
 *   on gets a `runner` event too (its `current_run` changed).
 * - `runner`: registration, deregistration, `dead` ⇄ alive, enable/disable.
 * - `batch`: a submission (one statement-level event per batch inserted, with its counts).
 *   The `done: true` event is written by the sequencer (`pulse_sequence_events`), which sees
 *   only committed runs, once the last open run of a batch is final (`batch.done_at`).
 * - `namespace`: create/replace and delete.
 *
 * Writers insert events with `seq` NULL. `pulse_sequence_events` gives them their public ids in
 * commit order: under one advisory lock (so sequencers of every process take turns), it numbers
 * the committed, unnumbered events from `event_head.last + 1` on. A later sequencer sees every
 * earlier one committed, so a smaller id is always visible before a larger one, and the ids
 * have no gaps (a gap below the oldest kept event means it was pruned).
 */
export class Events1764100000000 implements MigrationInterface {
  name = 'Events1764100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE event (
        id         bigserial PRIMARY KEY,
        seq        bigint UNIQUE,
        kind       text NOT NULL,
        namespace  text,
        batch_id   uuid,
        data       jsonb NOT NULL,
        at         timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX event_unsequenced ON event (id) WHERE seq IS NULL`);
    await q.query(`
      CREATE TABLE event_head (
        one   boolean PRIMARY KEY DEFAULT true CHECK (one),
        last  bigint NOT NULL DEFAULT 0
      )`);
    await q.query(`INSERT INTO event_head DEFAULT VALUES`);
    await q.query(`ALTER TABLE batch ADD COLUMN done_at timestamptz`);
    // Batches already done before the feed existed get no done event.
    await q.query(`UPDATE batch b SET done_at = now()
                   WHERE NOT EXISTS (SELECT 1 FROM run r WHERE r.batch_id = b.id AND r.state IN ('waiting', 'running'))`);
    // "Does this batch still have an open run?" is one index probe, however large the batch.
    await q.query(`CREATE INDEX run_open_batch ON run (batch_id) WHERE state IN ('waiting', 'running')`);

    await q.query(`
      CREATE FUNCTION pulse_iso(t timestamptz) RETURNS text LANGUAGE sql STABLE AS $$
        SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
      $$`);

    // A waiting run's pending_reason (replaced by the PendingReasonInSql migration, which RunService uses too).
    await q.query(`
      CREATE FUNCTION pulse_pending_reason(r run) RETURNS text LANGUAGE plpgsql STABLE AS $$
      DECLARE
        c record;
        needs text[] := '{}';
      BEGIN
        SELECT count(*) AS registered,
               count(*) FILTER (WHERE enabled) AS enabled,
               count(*) FILTER (WHERE enabled AND state <> 'dead') AS alive,
               count(*) FILTER (WHERE enabled AND state <> 'dead' AND NOT EXISTS (
                 SELECT 1 FROM run h WHERE h.runner_id = w.id AND h.state = 'running')) AS idle
        INTO c
        FROM runner w
        WHERE w.deregistered_at IS NULL AND r.labels <@ w.labels
          AND (r.framework IS NULL OR w.framework_name = r.framework)
          AND (w.res_cpu IS NULL OR r.res_cpu <= w.res_cpu)
          AND (w.res_memory IS NULL OR r.res_memory <= w.res_memory)
          AND (w.res_disk IS NULL OR r.res_disk <= w.res_disk);
        IF c.registered = 0 THEN
          IF cardinality(r.labels) > 0 THEN needs := needs || ('labels [' || array_to_string(r.labels, ', ') || ']'); END IF;
          IF r.framework IS NOT NULL THEN needs := needs || ('framework "' || r.framework || '"'); END IF;
          IF r.res_cpu <> 0 OR r.res_memory <> 0 OR r.res_disk <> 0 THEN
            needs := needs || ('resources cpu ' || r.res_cpu || ', memory ' || r.res_memory || ' MiB, disk ' || r.res_disk || ' MiB');
          END IF;
          RETURN 'no registered runner matches this run'
            || CASE WHEN cardinality(needs) > 0 THEN ' (it needs ' || array_to_string(needs, '; ') || ')' ELSE '' END;
        END IF;
        IF c.enabled = 0 THEN RETURN 'every runner that matches this run is disabled'; END IF;
        IF c.alive = 0 THEN RETURN 'every runner that matches this run is dead (no recent heartbeat)'; END IF;
        IF c.idle = 0 THEN RETURN 'waiting for a free runner: all ' || c.alive || ' matching runner(s) are busy'; END IF;
        RETURN 'waiting for one of ' || c.idle || ' idle matching runner(s) to poll';
      END $$`);

    // A runner's list fields (GET /api/runners) with the run it holds given.
    await q.query(`
      CREATE FUNCTION pulse_runner_event(p_runner uuid, p_run uuid) RETURNS void LANGUAGE sql VOLATILE AS $$
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

    await q.query(`
      CREATE FUNCTION pulse_runs_submitted() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO event (kind, namespace, batch_id, data)
        SELECT 'batch', b.namespace, b.id, jsonb_build_object(
                 'batch_id', b.id, 'namespace', b.namespace, 'created_at', pulse_iso(b.created_at),
                 'runs', c.n,
                 'counts', jsonb_build_object('waiting', c.waiting, 'running', c.running, 'finished', c.finished,
                                              'failed', c.failed, 'canceled', c.canceled, 'timeout', c.timeout),
                 'done', false)
        FROM (SELECT batch_id, count(*) AS n,
                     count(*) FILTER (WHERE state = 'waiting') AS waiting,
                     count(*) FILTER (WHERE state = 'running') AS running,
                     count(*) FILTER (WHERE state = 'finished') AS finished,
                     count(*) FILTER (WHERE state = 'failed') AS failed,
                     count(*) FILTER (WHERE state = 'canceled') AS canceled,
                     count(*) FILTER (WHERE state = 'timeout') AS timeout
              FROM new_runs GROUP BY batch_id) c
        JOIN batch b ON b.id = c.batch_id
        ORDER BY b.seq;
        RETURN NULL;
      END $$`);
    await q.query(`
      CREATE TRIGGER run_submitted AFTER INSERT ON run REFERENCING NEW TABLE AS new_runs
      FOR EACH STATEMENT EXECUTE FUNCTION pulse_runs_submitted()`);

    await q.query(`
      CREATE FUNCTION pulse_runner_changed() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pulse_runner_event(NEW.id, (SELECT r.id FROM run r WHERE r.runner_id = NEW.id AND r.state = 'running'));
        RETURN NULL;
      END $$`);
    await q.query(`CREATE TRIGGER runner_registered AFTER INSERT ON runner FOR EACH ROW EXECUTE FUNCTION pulse_runner_changed()`);
    // Liveness writes set state = 'waiting' on every heartbeat: only a real change gets past WHEN.
    await q.query(`
      CREATE TRIGGER runner_event AFTER UPDATE ON runner FOR EACH ROW
      WHEN (OLD.state IS DISTINCT FROM NEW.state OR OLD.enabled IS DISTINCT FROM NEW.enabled
            OR (OLD.deregistered_at IS NULL) <> (NEW.deregistered_at IS NULL))
      EXECUTE FUNCTION pulse_runner_changed()`);

    await q.query(`
      CREATE FUNCTION pulse_namespace_changed() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'DELETE' THEN
          INSERT INTO event (kind, namespace, data)
          VALUES ('namespace', OLD.name, jsonb_build_object('namespace_name', OLD.name, 'deleted', true));
        ELSE
          INSERT INTO event (kind, namespace, data)
          VALUES ('namespace', NEW.name, jsonb_build_object('namespace_name', NEW.name, 'repositories', to_jsonb(NEW.repositories)));
        END IF;
        RETURN NULL;
      END $$`);
    await q.query(`
      CREATE TRIGGER namespace_event AFTER INSERT OR UPDATE OR DELETE ON namespace
      FOR EACH ROW EXECUTE FUNCTION pulse_namespace_changed()`);

    /*
     * The sequencer. Call it as its own statement (autocommit): the advisory lock is held until
     * commit, and every statement after the lock takes a fresh snapshot (READ COMMITTED, VOLATILE
     * function), so it sees every earlier sequencer's numbers committed. Numbers at most `lim`
     * events per step; returns the head and how many it numbered. Wakes readers in every process.
     */
    await q.query(`
      CREATE FUNCTION pulse_sequence_events(lim integer, OUT numbered bigint, OUT head bigint)
      LANGUAGE plpgsql VOLATILE AS $$
      DECLARE
        step_from bigint;
        n bigint;
      BEGIN
        numbered := 0;
        IF NOT EXISTS (SELECT 1 FROM event WHERE seq IS NULL) THEN
          SELECT last INTO head FROM event_head;
          RETURN;
        END IF;
        PERFORM pg_advisory_xact_lock(7349210038245);
        SELECT last INTO head FROM event_head FOR UPDATE;
        -- Number a step of events, then look for batches whose last open run became final in
        -- that step; their done events are numbered in the next step (and looked at again).
        FOR step IN 1..10 LOOP
          step_from := head;
          WITH picked AS (
            SELECT id, row_number() OVER (ORDER BY id) AS k FROM event WHERE seq IS NULL ORDER BY id LIMIT lim
          ), numbered_rows AS (
            UPDATE event e SET seq = head + p.k FROM picked p WHERE e.id = p.id RETURNING e.seq
          )
          SELECT count(*) INTO n FROM numbered_rows;
          head := head + n;
          numbered := numbered + n;
          WITH candidates AS (
            SELECT DISTINCT batch_id FROM event
            WHERE seq > step_from AND seq <= head AND kind = 'run'
              AND data->>'state' IN ('finished', 'failed', 'canceled', 'timeout')
          ), done AS (
            UPDATE batch b SET done_at = now()
            FROM candidates c
            WHERE b.id = c.batch_id AND b.done_at IS NULL
              AND NOT EXISTS (SELECT 1 FROM run r WHERE r.batch_id = b.id AND r.state IN ('waiting', 'running'))
            RETURNING b.id, b.namespace, b.created_at, b.seq
          )
          INSERT INTO event (kind, namespace, batch_id, data)
          SELECT 'batch', d.namespace, d.id, jsonb_build_object(
                   'batch_id', d.id, 'namespace', d.namespace, 'created_at', pulse_iso(d.created_at),
                   'runs', c.n,
                   'counts', jsonb_build_object('waiting', c.waiting, 'running', c.running, 'finished', c.finished,
                                                'failed', c.failed, 'canceled', c.canceled, 'timeout', c.timeout),
                   'done', true)
          FROM done d CROSS JOIN LATERAL (
            SELECT count(*) AS n,
                   count(*) FILTER (WHERE state = 'waiting') AS waiting,
                   count(*) FILTER (WHERE state = 'running') AS running,
                   count(*) FILTER (WHERE state = 'finished') AS finished,
                   count(*) FILTER (WHERE state = 'failed') AS failed,
                   count(*) FILTER (WHERE state = 'canceled') AS canceled,
                   count(*) FILTER (WHERE state = 'timeout') AS timeout
            FROM run r WHERE r.batch_id = d.id
          ) c
          ORDER BY d.seq;
          EXIT WHEN NOT FOUND;
        END LOOP;
        UPDATE event_head SET last = head;
        IF numbered > 0 THEN PERFORM pg_notify('pulse_events', head::text); END IF;
      END $$`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP FUNCTION pulse_sequence_events(integer)`);
    await q.query(`DROP TRIGGER namespace_event ON namespace`);
    await q.query(`DROP FUNCTION pulse_namespace_changed()`);
    await q.query(`DROP TRIGGER runner_event ON runner`);
    await q.query(`DROP TRIGGER runner_registered ON runner`);
    await q.query(`DROP FUNCTION pulse_runner_changed()`);
    await q.query(`DROP TRIGGER run_submitted ON run`);
    await q.query(`DROP FUNCTION pulse_runs_submitted()`);
    await q.query(`DROP TRIGGER run_event ON run`);
    await q.query(`DROP FUNCTION pulse_run_changed()`);
    await q.query(`DROP FUNCTION pulse_runner_event(uuid, uuid)`);
    await q.query(`DROP FUNCTION pulse_pending_reason(run)`);
    await q.query(`DROP FUNCTION pulse_iso(timestamptz)`);
    await q.query(`DROP INDEX run_open_batch`);
    await q.query(`ALTER TABLE batch DROP COLUMN done_at`);
    await q.query(`DROP TABLE event_head`);
    await q.query(`DROP TABLE event`);
  }
}
