import { Global, Module } from '@nestjs/common';
import { EventCursorInterceptor } from './event-cursor.interceptor';
import { EventFeed } from './event-feed';
import { EventController } from './event.controller';
import { EventStore } from './event.store';

/**
 * The live feed (GET /api/events). Global, and below every resource module: the run, batch and
 * runner list routes use its EventCursorInterceptor; it depends on nothing but the database.
 */
@Global()
@Module({
  controllers: [EventController],
  providers: [EventStore, EventFeed, EventCursorInterceptor],
  exports: [EventStore, EventFeed, EventCursorInterceptor],
})
export class EventModule {}
