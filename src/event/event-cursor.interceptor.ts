import { CallHandler, ExecutionContext, Injectable, NestInterceptor } from '@nestjs/common';
import { map, Observable } from 'rxjs';
import { EventStore } from './event.store';

/**
 * Adds `event_cursor` to a list answer (GET /api/runs, /api/batches, /api/runners): the newest
 * event id, read BEFORE the list itself. Every event up to it describes a change the list
 * already shows; every later change has a larger id. So `GET /api/events?after=<event_cursor>`
 * after the list misses nothing (an event may repeat what the list shows, never the reverse).
 */
@Injectable()
export class EventCursorInterceptor implements NestInterceptor {
  constructor(private readonly store: EventStore) {}

  async intercept(_context: ExecutionContext, next: CallHandler): Promise<Observable<unknown>> {
    const cursor = await this.store.head();
    return next.handle().pipe(map((body: object) => ({ ...body, event_cursor: cursor })));
  }
}
