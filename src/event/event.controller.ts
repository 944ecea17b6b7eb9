import { Controller, Get, Headers, Query, Res, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiHeader, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { AdminAuthGuard } from '../common/admin-auth.guard';
import { ApiErrors } from '../common/api-errors';
import { EventFeed } from './event-feed';
import { EventQuery } from './event.dto';

const DESCRIPTION = `Server-Sent Events. Each frame: \`id: <event id>\`, \`event: <kind>\`, \`data: <one-line JSON>\`.

- \`run\`: the run's list fields plus \`namespace\` and \`pending_reason\`, once per state it enters.
- \`batch\`: \`{batch_id, namespace, created_at, runs, counts: {waiting, running, finished, failed, canceled, timeout}, done}\`
  on submission, and once with \`done: true\` when its last open run became final.
- \`runner\`: the runner's list fields, on registration, deregistration (\`deregistered: true\`), state change
  (waiting/running/dead) and enable/disable.
- \`namespace\`: \`{namespace_name, repositories}\` on create/replace, \`{namespace_name, deleted: true}\` on delete.

\`?after=<id>\` or \`Last-Event-ID\` replays every later event in id order, then goes live; without either the stream
starts at now. A resume point older than the oldest kept event (EVENTS_RETENTION) gets one \`event: resync\`
(\`data: {}\`), then live events: reload your lists. A comment line is sent whenever EVENTS_KEEPALIVE (15 s) passes
without a frame. Reconnecting with the last id seen misses nothing and repeats nothing.`;

@ApiTags('events')
@ApiBearerAuth('admin')
@UseGuards(AdminAuthGuard)
@Controller('events')
export class EventController {
  constructor(private readonly feed: EventFeed) {}

  @Get()
  @ApiOperation({ summary: 'The live feed of runs, batches, runners and namespaces (SSE, resumable)', description: DESCRIPTION })
  @ApiHeader({ name: 'Last-Event-ID', required: false, description: 'Resume after this event id (wins over ?after=)' })
  @ApiOkResponse({
    description: 'text/event-stream until the client leaves',
    content: { 'text/event-stream': { schema: { type: 'string', example: 'id: 42\nevent: run\ndata: {"id":"…","state":"running",…}\n\n' } } },
  })
  @ApiErrors(400, 401)
  stream(@Query() query: EventQuery, @Headers('last-event-id') lastEventId: string | undefined, @Res() reply: FastifyReply): Promise<void> {
    return this.feed.serve(reply, query.after, lastEventId, {
      kinds: query.kinds ? [...new Set(query.kinds.split(','))] : null,
      namespace: query.namespace ?? null,
      batch: query.batch ?? null,
    });
  }
}
