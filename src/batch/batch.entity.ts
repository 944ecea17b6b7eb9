import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

/** The group of runs created by one submission (seed 003's "project"). */
@Entity('batch')
export class Batch {
  @PrimaryColumn('uuid')
  id: string;

  @Column('text')
  namespace: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  /** Insertion order, for stable pagination. */
  @Column({ type: 'bigint', insert: false, update: false })
  seq: string;
}
