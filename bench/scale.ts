/** How big each scenario is, per mode. Full is what the issue asks; quick and tiny scale it down. */
export type Mode = 'full' | 'quick' | 'tiny';

export interface Scale {
  mode: Mode;
  /** Load processes for the runner simulations. */
  loadProcs: number;
  idle: { runners: number; seconds: number; warmupSeconds: number };
  /** maxSeconds caps a drain: a slow orchestrator is measured on the runs it drained by then. */
  dispatch: { runs: number; runners: number; maxSeconds: number };
  pickup: { pollers: number; runs: number; everyMs: number; wait: number };
  fleet: { runners: number; wait: number; rampSeconds: number; settleSeconds: number; windowSeconds: number; procs: number };
  logs: { runners: number; chunkBytes: number; seconds: number };
  /** Scenario 7: API tokens revoked through one process, timed until the other refuses them. */
  revocation: { tokens: number };
}

export function scaleFor(mode: Mode): Scale {
  switch (mode) {
    case 'full':
      return {
        mode,
        loadProcs: 2,
        idle: { runners: 1000, seconds: 15, warmupSeconds: 3 },
        dispatch: { runs: 20000, runners: 64, maxSeconds: 30 },
        pickup: { pollers: 200, runs: 1000, everyMs: 10, wait: 20 },
        fleet: { runners: 10000, wait: 10, rampSeconds: 10, settleSeconds: 3, windowSeconds: 10, procs: 4 },
        logs: { runners: 64, chunkBytes: 64 * 1024, seconds: 15 },
        revocation: { tokens: 50 },
      };
    case 'quick':
      return {
        mode,
        loadProcs: 2,
        idle: { runners: 300, seconds: 2, warmupSeconds: 0.5 },
        dispatch: { runs: 1000, runners: 64, maxSeconds: 5 },
        pickup: { pollers: 200, runs: 150, everyMs: 10, wait: 20 },
        fleet: { runners: 600, wait: 2, rampSeconds: 1, settleSeconds: 0.5, windowSeconds: 2, procs: 2 },
        logs: { runners: 64, chunkBytes: 64 * 1024, seconds: 2 },
        revocation: { tokens: 10 },
      };
    case 'tiny':
      return {
        mode,
        loadProcs: 2,
        idle: { runners: 20, seconds: 1, warmupSeconds: 0 },
        dispatch: { runs: 200, runners: 8, maxSeconds: 30 },
        pickup: { pollers: 10, runs: 20, everyMs: 10, wait: 5 },
        fleet: { runners: 50, wait: 2, rampSeconds: 0.3, settleSeconds: 0.2, windowSeconds: 0.5, procs: 2 },
        logs: { runners: 4, chunkBytes: 64 * 1024, seconds: 0.5 },
        revocation: { tokens: 3 },
      };
  }
}
