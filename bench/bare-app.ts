import 'reflect-metadata';
import { Body, Controller, HttpCode, Module, Post } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';

/**
 * The HTTP ceiling of the benches: a bare NestJS-on-Fastify app with no database, no guard and no
 * validation, answering the heartbeat route with the JSON the orchestrator answers to an idle
 * runner. With `wait` it holds the request that many seconds first (the fleet reference).
 */
const INTERVAL = Number(process.env.HEARTBEAT_INTERVAL || 10);

@Controller('runner')
class BareHeartbeatController {
  @Post('heartbeat')
  @HttpCode(200)
  async heartbeat(@Body() body: { wait?: number }): Promise<unknown> {
    const wait = Math.min(Number(body?.wait ?? 0), Number(process.env.LONG_POLL_MAX || 30));
    if (wait > 0) await new Promise((r) => setTimeout(r, wait * 1000));
    return { heartbeat: { status: 'ok', interval: INTERVAL } };
  }
}

@Module({ controllers: [BareHeartbeatController] })
class BareModule {}

async function main(): Promise<void> {
  const app = await NestFactory.create<NestFastifyApplication>(BareModule, new FastifyAdapter(), {
    logger: ['error', 'warn'],
  });
  app.setGlobalPrefix('api');
  app.enableShutdownHooks();
  await app.listen({ port: Number(process.env.PORT || 0), host: process.env.HOST || '127.0.0.1' });
  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address ? address.port : 0;
  process.stdout.write(`pulse: listening on http://${process.env.HOST || '127.0.0.1'}:${port} (bare reference app)\n`);
  const stop = (): void => {
    app.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`bare app: cannot start: ${String(err)}\n`);
  process.exit(1);
});
