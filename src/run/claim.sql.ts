/**
 * The claim's SQL, in a module of its own (no Nest, no TypeORM) so that a test can read the
 * plan of the very statement the orchestrator prepares (test/queue-plan.e2e-spec.ts).
 */

/** `WHERE` fragment: the waiting run `r` fits the runner whose capacity is $1..$5. */
export const MATCHES_RUNNER = `
  r.labels <@ $1::text[]
  AND (r.framework IS NULL OR r.framework = $2)
  AND r.res_cpu <= $3 AND r.res_memory <= $4 AND r.res_disk <= $5`;

/**
 * `WHERE` fragment: the runner has the executor the run `r` needs; $p is the runner's can_shell,
 * $p+1 its can_container (RunnerCapacity).
 */
export const executorMatches = (p: number): string => `(CASE WHEN r.image IS NULL THEN $${p}::boolean ELSE $${p + 1}::boolean END)`;

/**
 * The statement of `RunRepository.claimBest` (see there). Exported for the test that reads its
 * plan (test/queue-plan.e2e-spec.ts): it must read the queue through `run_waiting_queue`.
 */
export const CLAIM_BEST_SQL = `WITH heads AS (
         SELECT n.name AS namespace, q.priorities, q.seqs,
                (SELECT count(*) FROM run x WHERE x.namespace = n.name AND x.state = 'running') AS running
         FROM namespace n
         CROSS JOIN LATERAL (
           SELECT array_agg(t.priority ORDER BY t.priority DESC, t.seq) AS priorities,
                  array_agg(t.seq ORDER BY t.priority DESC, t.seq) AS seqs
           FROM (SELECT r.priority, r.seq FROM run r
                 WHERE r.namespace = n.name AND r.state = 'waiting' AND ${MATCHES_RUNNER} AND ${executorMatches(8)}
                 ORDER BY r.priority DESC, r.seq LIMIT $6) t
         ) q
         WHERE q.priorities IS NOT NULL AND ($7::text[] IS NULL OR n.name = ANY($7))
       ), ranked AS (
         SELECT h.namespace, row_number() OVER (ORDER BY u.priority DESC, h.running + u.i - 1, u.seq) AS pick
         FROM heads h CROSS JOIN LATERAL unnest(h.priorities, h.seqs) WITH ORDINALITY AS u(priority, seq, i)
       ), want AS (
         SELECT namespace, count(*)::int AS k, row_number() OVER (ORDER BY min(pick)) AS ord
         FROM ranked WHERE pick <= $6 GROUP BY namespace
       ), picked AS (
         SELECT p.id, row_number() OVER (ORDER BY w.ord, p.priority DESC, p.seq) AS n
         FROM want w CROSS JOIN LATERAL (
           SELECT r.id, r.priority, r.seq FROM run r
           WHERE r.namespace = w.namespace AND r.state = 'waiting' AND ${MATCHES_RUNNER} AND ${executorMatches(8)}
           ORDER BY r.priority DESC, r.seq LIMIT w.k
           FOR UPDATE SKIP LOCKED
         ) p
       ), who AS (
         SELECT * FROM unnest($10::uuid[], $11::uuid[]) WITH ORDINALITY AS a(runner_id, message_id, n)
       )
       UPDATE run SET state = 'running', runner_id = who.runner_id, message_id = who.message_id,
              attempt = run.attempt + 1, acknowledged = false, dispatched_at = now(), started_at = now(), reason = NULL
       FROM picked JOIN who USING (n)
       WHERE run.id = picked.id
       RETURNING run.*, who.n AS claim_n, (SELECT sum(k) FROM want) AS asked`;
