export interface Row {
  scenario: string;
  metric: string;
  unit: string;
  ours: number | null;
  reference: number | null;
  referenceName: string;
  /** ours / reference. */
  ratio: number | null;
  target: string;
  pass: boolean | null;
}

export interface Check {
  name: string;
  ok: boolean;
  detail?: string;
}

export interface CpuShare {
  phase: string;
  seconds: number;
  orchestrator: number;
  postgres: number;
  load: number;
  machine: number;
}

export interface ScenarioResult {
  id: number;
  name: string;
  rows: Row[];
  checks: Check[];
  cpu: CpuShare[];
  /** What bounds the figures, from the CPU shares (and the profile when one was taken). */
  bound: string[];
  seconds: number;
  raw: Record<string, unknown>;
  error?: string;
}

export function correctnessOk(r: ScenarioResult): boolean {
  return !r.error && r.checks.every((c) => c.ok);
}
