import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { CLAIM_BEST_SQL } from '../src/run/claim.sql';
import { submit, TestRunner } from './support/protocol';
import { databaseKind, startPulse, TestPulse } from './support/pulse';

/**
 * The claim reads a few index entries however long the queue, whatever the planner's statistics
 * say. Statistics taken while no run waited (autovacuum analyzes a quiet table, after a drain)
 * once made the generic plan of the claim read the queue through `run_open_batch` and sort every
 * waiting run, for every claim (migration 1764900000000). The plan is PostgreSQL's: read here on
 * the server, through EXPLAIN ANALYZE of the very statement the orchestrator prepares, inside a
 * transaction that is rolled back.
 */
const describeOnPostgres = databaseKind() === 'postgres' ? describe : describe.skip;

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  Plans?: PlanNode[];
}

/** Every scan of the run table in a plan: its index (or the node type) and the rows it read. */
function runScans(node: PlanNode, out: Array<{ via: string; rows: number }> = []): Array<{ via: string; rows: number }> {
  if (node['Relation Name'] === 'run' && /Scan/.test(node['Node Type'])) {
    out.push({ via: node['Index Name'] ?? node['Node Type'], rows: (node['Actual Rows'] ?? 0) * (node['Actual Loops'] ?? 1) });
  }
  for (const child of node.Plans ?? []) runScans(child, out);
  return out;
}

describeOnPostgres('the claim plan (PostgreSQL)', () => {
  let pulse: TestPulse;
  let db: Client;

  beforeAll(async () => {
    pulse = await startPulse();
    db = new Client({ connectionString: pulse.databaseUrl });
    await db.connect();
  });
  afterAll(async () => {
    await db.end();
    await pulse.close();
  });

  it('reads the queue through run_waiting_queue, also with statistics taken while nothing waited', async () => {
    // A quiet table: 200 runs, all final, analyzed. The statistics say no run waits.
    const quiet = await submit(pulse, { namespace: 'plan', jobs: Array.from({ length: 200 }, () => ({})), repos: ['https://example.com/a.git'] });
    await pulse.http.delete(`/api/batches/${quiet.batch_id}`).set(pulse.admin).expect(200);
    await db.query('VACUUM ANALYZE run');
    const stats = await db.query(`SELECT most_common_vals::text AS vals FROM pg_stats WHERE tablename = 'run' AND attname = 'state'`);
    expect(stats.rows[0]?.vals).toBe('{canceled}');

    // Then a burst: 3,000 runs wait.
    const waiting = 3000;
    await submit(pulse, { namespace: 'plan', jobs: Array.from({ length: waiting }, () => ({})), repos: ['https://example.com/a.git'] });
    const runner = await TestRunner.register(pulse, {});

    await db.query('BEGIN');
    try {
      // The orchestrator's prepared statement switches to the generic plan after five runs; this
      // asks for that plan at once.
      await db.query(`SET LOCAL plan_cache_mode = force_generic_plan`);
      await db.query(`PREPARE claim_plan AS ${CLAIM_BEST_SQL}`);
      const params = [`'{}'::text[]`, 'NULL', '2147483647', '2147483647', '2147483647', '1', 'NULL', 'true', 'false', `ARRAY['${runner.id}']::uuid[]`, `ARRAY['${randomUUID()}']::uuid[]`];
      const res = await db.query(`EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE claim_plan(${params.join(', ')})`);
      const plan = (res.rows[0]['QUERY PLAN'] as Array<{ Plan: PlanNode }>)[0].Plan;
      const scans = runScans(plan);
      const queue = scans.filter((s) => s.via === 'run_waiting_queue');
      // heads and picked: both read the queue through its index, a few entries each.
      expect(queue.length).toBe(2);
      expect(scans.map((s) => s.via)).not.toContain('run_open_batch');
      const read = scans.reduce((a, s) => a + s.rows, 0);
      expect(read).toBeLessThan(100);
      console.log(`claim plan: ${scans.map((s) => `${s.via} ${s.rows} rows`).join(', ')} (${waiting} runs waiting)`);
    } finally {
      await db.query('ROLLBACK');
    }
  });
});
