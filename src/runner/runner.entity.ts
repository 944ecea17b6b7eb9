import { Column, Entity, PrimaryColumn } from 'typeorm';

/** A host that accepts runs. The token is stored only as its SHA-256 hash. */
@Entity('runner')
export class Runner {
  @PrimaryColumn('uuid') id: string;
  @Column('text') name: string;
  @Column('bytea', { name: 'token_hash' }) tokenHash: Buffer;
  @Column('text', { array: true }) labels: string[];
  @Column('jsonb', { nullable: true }) framework: Record<string, unknown> | null;
  @Column('text', { name: 'framework_name', nullable: true }) frameworkName: string | null;
  @Column('jsonb', { nullable: true }) system: Record<string, unknown> | null;
  @Column('integer', { name: 'res_cpu', nullable: true }) resCpu: number | null;
  @Column('integer', { name: 'res_memory', nullable: true }) resMemory: number | null;
  @Column('integer', { name: 'res_disk', nullable: true }) resDisk: number | null;
  @Column('jsonb', { nullable: true }) usage: Record<string, unknown> | null;
  @Column('text', { nullable: true }) ip: string | null;
  @Column('boolean') enabled: boolean;
  /** 'dead' once silent for RUNNER_DEAD_AFTER; otherwise alive (waiting or running is derived). */
  @Column('text') state: string;
  @Column('timestamptz', { name: 'deregistered_at', nullable: true }) deregisteredAt: Date | null;
  @Column('timestamptz', { name: 'last_heartbeat_at', nullable: true }) lastHeartbeatAt: Date | null;
  @Column('timestamptz', { name: 'registered_at' }) registeredAt: Date;
  @Column({ type: 'bigint', insert: false, update: false }) seq: string;
  @Column('jsonb', { nullable: true }) container: Record<string, unknown> | null;
  @Column('jsonb', { nullable: true }) executors: string[] | null;
  @Column('text', { name: 'default_image', nullable: true }) defaultImage: string | null;
  @Column('boolean', { name: 'can_shell' }) canShell: boolean;
  @Column('boolean', { name: 'can_container' }) canContainer: boolean;
}

/** A runner row as plain SQL returns it, with `current_run` joined in. */
export interface RunnerRow {
  id: string;
  name: string;
  labels: string[];
  framework: Record<string, unknown> | null;
  framework_name: string | null;
  system: Record<string, unknown> | null;
  res_cpu: number | null;
  res_memory: number | null;
  res_disk: number | null;
  usage: Record<string, unknown> | null;
  ip: string | null;
  enabled: boolean;
  state: string;
  deregistered_at: Date | null;
  last_heartbeat_at: Date | null;
  registered_at: Date;
  seq: string;
  container: Record<string, unknown> | null;
  executors: string[] | null;
  default_image: string | null;
  can_shell: boolean;
  can_container: boolean;
  current_run: string | null;
  namespaces: string[] | null;
}
