/**
 * What a runner can execute (SPEC section 9), from what it reported in its registration or last
 * heartbeat, reduced to the two booleans dispatch matches in SQL:
 *
 * - `can_container`: a run with `image` needs the `container` executor and an engine whose last
 *   ping worked (`container.healthy`);
 * - `can_shell`: a run without one needs the `shell` executor, or, when the runner has a
 *   default image (it runs such runs in that image), a healthy engine.
 *
 * Absent `executors` means `["shell"]`: runners that say nothing keep running shell runs.
 */
export interface ReportedCapabilities {
  container?: { healthy?: boolean };
  executors?: string[];
  defaultImage?: string;
}

export interface RunnerCapabilities {
  container: string | null;
  executors: string | null;
  defaultImage: string | null;
  canShell: boolean;
  canContainer: boolean;
}

/** Only the two booleans: cheap enough for every heartbeat (the cache compares them). */
export function executorFlags(req: ReportedCapabilities): { canShell: boolean; canContainer: boolean } {
  const executors = req.executors ?? ['shell'];
  const engineHealthy = req.container?.healthy === true;
  return {
    canShell: req.defaultImage !== undefined ? engineHealthy : executors.includes('shell'),
    canContainer: engineHealthy && executors.includes('container'),
  };
}

/** What is stored: the report as JSON, and the two booleans. */
export function capabilitiesOf(req: ReportedCapabilities): RunnerCapabilities {
  return {
    container: req.container ? JSON.stringify(req.container) : null,
    executors: req.executors ? JSON.stringify([...new Set(req.executors)]) : null,
    defaultImage: req.defaultImage ?? null,
    ...executorFlags(req),
  };
}
