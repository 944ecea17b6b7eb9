import { ConsoleLogger } from '@nestjs/common';

/** Start-up chatter of Nest itself: one line per module and route, shown only with LOG_LEVEL=debug. */
const CHATTY = new Set(['InstanceLoader', 'RoutesResolver', 'RouterExplorer', 'NestFactory', 'NestApplication']);

/** Nest's console logger without its start-up chatter at the `log` level. */
export class QuietLogger extends ConsoleLogger {
  log(message: unknown, context?: string): void {
    if (context && CHATTY.has(context)) {
      if (this.isLevelEnabled('debug')) super.log(message, context);
      return;
    }
    super.log(message, context);
  }
}
