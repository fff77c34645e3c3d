import { createServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import type { Logger } from 'pino';
import { timingSafeStringEqual } from '@wecom-relay/shared';
import type { Registry } from 'prom-client';
import { RelayError } from '../errors/relay-error.js';
import { DEFAULT_HTTP_LIMITS, limitedServerOptions, type HttpLimits } from './http-server.js';
import { sendError, sendText } from './respond.js';
import { boundPort, closeServer, listenOn } from './http-listener.js';

/** Options for {@link MetricsServer}. */
export interface MetricsServerOptions {
  host: string;
  port: number;
  registry: Registry;
  /** When set, GET /metrics needs `Authorization: Bearer <token>`. */
  token?: string | undefined;
  logger: Logger;
  limits?: HttpLimits;
}

/**
 * Prometheus /metrics on a port of its own, so the port WeCom reaches from the internet does not publish the
 * node's traffic figures. Meant for the private network only; the optional bearer token is a second lock.
 */
export class MetricsServer {
  private readonly server: Server;
  private closing: Promise<void> | null = null;

  constructor(private readonly o: MetricsServerOptions) {
    const limits = o.limits ?? DEFAULT_HTTP_LIMITS;
    this.server = createServer(limitedServerOptions(limits), (req, res) => {
      this.route(req, res).catch((err: unknown) => {
        o.logger.error({ err }, 'metrics handler failed');
        sendError(res, new RelayError('INTERNAL'));
      });
    });
    this.server.maxConnections = Math.min(64, limits.maxConnections);
  }

  /** Starts listening. */
  listen(): Promise<void> {
    return listenOn(this.server, this.o.port, this.o.host);
  }

  /** The bound port (useful when configured as 0). */
  port(): number {
    return boundPort(this.server);
  }

  /** Stops listening and closes idle connections. Idempotent. */
  close(): Promise<void> {
    this.closing ??= closeServer(this.server);
    return this.closing;
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') return sendText(res, 404, 'not found\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendText(res, 405, 'method not allowed\n');
    if (this.o.token && !bearerMatches(req.headers.authorization, this.o.token)) {
      return sendError(res, new RelayError('METRICS_UNAUTHORIZED'));
    }
    return sendText(res, 200, await this.o.registry.metrics(), this.o.registry.contentType);
  }
}

/** Whether the request presents `token` as its bearer token (compared in constant time). */
function bearerMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer (.+)$/i.exec(header ?? '');
  return match !== null && timingSafeStringEqual(match[1]!.trim(), token);
}
