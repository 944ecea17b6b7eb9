import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { returned } from '../common/sql';
import type { EventFilter, FeedEvent } from './event.dto';

interface EventRow {
  seq: string;
  kind: string;
  namespace: string | null;
  batch_id: string | null;
  data: string;
}

const toEvent = (r: EventRow): FeedEvent => ({
  seq: Number(r.seq),
  kind: r.kind,
  namespace: r.namespace,
  batch: r.batch_id,
  data: r.data,
});

/** A page of the history: the events, the oldest id still kept, and the newest id given out. */
export interface HistoryPage {
  events: FeedEvent[];
  oldest: number | null;
  head: number;
}

/** The event table's statements (the triggers that write events are in the Events migration). */
@Injectable()
export class EventStore {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  /** The newest event id given out: every event up to it is committed and readable. */
  async head(): Promise<number> {
    const rows: Array<{ last: string }> = await this.db.query(`SELECT last FROM event_head`);
    return Number(rows[0].last);
  }

  /** Numbers up to `limit` committed events in commit order (pulse_sequence_events). */
  async sequence(limit: number): Promise<{ numbered: number; head: number }> {
    const rows: Array<{ numbered: string; head: string }> = await this.db.query(
      `SELECT numbered, head FROM pulse_sequence_events($1)`,
      [limit],
    );
    return { numbered: Number(rows[0].numbered), head: Number(rows[0].head) };
  }

  /** Every event after `after`, in id order: for the process's shared tail. */
  async after(after: number, limit: number): Promise<FeedEvent[]> {
    const rows: EventRow[] = await this.db.query(
      `SELECT seq, kind, namespace, batch_id, data::text AS data FROM event WHERE seq > $1 ORDER BY seq LIMIT $2`,
      [after, limit],
    );
    return rows.map(toEvent);
  }

  /**
   * The events after `after` that pass the filter, with the oldest kept id and the head, all
   * read in one snapshot (so a prune between them cannot go unnoticed).
   */
  async history(after: number, filter: EventFilter, limit: number): Promise<HistoryPage> {
    const rows: Array<EventRow & { oldest: string | null; head: string }> = await this.db.query(
      `WITH bounds AS (SELECT (SELECT min(seq) FROM event) AS oldest, (SELECT last FROM event_head) AS head)
       SELECT b.oldest, b.head, e.seq, e.kind, e.namespace, e.batch_id, e.data::text AS data
       FROM bounds b LEFT JOIN LATERAL (
         SELECT * FROM event
         WHERE seq > $1 AND seq <= b.head
           AND ($2::text[] IS NULL OR kind = ANY($2::text[]))
           AND ($3::text IS NULL OR namespace IS NULL OR namespace = $3)
           AND ($4::uuid IS NULL OR batch_id IS NULL OR batch_id = $4)
         ORDER BY seq LIMIT $5
       ) e ON true
       ORDER BY e.seq`,
      [after, filter.kinds, filter.namespace, filter.batch, limit],
    );
    const first = rows[0];
    return {
      events: rows.filter((r) => r.seq !== null).map(toEvent),
      oldest: first.oldest === null ? null : Number(first.oldest),
      head: Number(first.head),
    };
  }

  /**
   * Deletes up to `limit` of the oldest events that are older than `retentionSeconds`, only ever a
   * prefix of the ids (so a gap can only be "everything before the oldest kept one"). Several
   * processes may prune at once: they delete the same rows, and the second finds them gone.
   */
  async prune(retentionSeconds: number, limit: number): Promise<number> {
    const result: unknown = await this.db.query(
      `WITH oldest AS (
         SELECT seq, at FROM event WHERE seq IS NOT NULL ORDER BY seq LIMIT $2
       ), keep_from AS (
         SELECT min(seq) AS seq FROM oldest WHERE at >= now() - $1 * interval '1 second'
       )
       DELETE FROM event WHERE seq IN (
         SELECT o.seq FROM oldest o WHERE o.seq < COALESCE((SELECT seq FROM keep_from), 9223372036854775807)
       )
       RETURNING seq`,
      [retentionSeconds, limit],
    );
    return returned(result).length;
  }
}
