import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';

/** A named group of repositories; every batch belongs to one. */
@Entity('namespace')
export class Namespace {
  @PrimaryColumn('text')
  name: string;

  @Column('text', { array: true })
  repositories: string[];

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}
