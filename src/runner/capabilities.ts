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

export function capabilitiesOf(req: ReportedCapabilities): RunnerCapabilities {
  const executors = req.executors ?? ['shell'];
  const engineHealthy = req.container?.healthy === true;
  return {
    container: req.container ? JSON.stringify(req.container) : null,
    executors: req.executors ? JSON.stringify([...new Set(req.executors)]) : null,
    defaultImage: req.defaultImage ?? null,
    canShell: req.defaultImage !== undefined ? engineHealthy : executors.includes('shell'),
    canContainer: engineHealthy && executors.includes('container'),
  };
}
