import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { RelayError } from '../errors/relay-error.js';
import { MEDIA_LINK_PATH } from '../media/media-link-signer.js';
import { sendError, sendText } from './respond.js';
import { boundPort, closeServer, listenOn } from './http-listener.js';

/** Options for {@link RelayHttpServer}. */
export interface RelayHttpServerOptions {
  host: string;
  port: number;
  webhook: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
  /** Media links (`GET /media/v1?...`), given the query; absent: 404 like any unknown path. */
  media?: (req: IncomingMessage, res: ServerResponse, query: URLSearchParams) => Promise<void>;
  /** Liveness: the process serves requests. */
  health: () => Record<string, unknown>;
  /** Readiness: every dependency is reachable and this node should receive traffic. */
  readiness: () => { ready: boolean; checks: Record<string, boolean> };
  logger: Logger;
  /** Connection limits (HTTP_* settings); defaults 15 s, 10 s, 1 s and 1024. */
  limits?: HttpLimits;
}

/** How long a request may take to arrive and how many connections a server holds. */
export interface HttpLimits {
  /** The whole request (headers and body) must arrive within this. */
  requestTimeoutMs: number;
  /** The headers must arrive within this. */
  headersTimeoutMs: number;
  /** How often the two timeouts are checked; a slow request lives at most its timeout plus this. */
  connectionsCheckMs: number;
  /** Connections beyond this are refused at once. */
  maxConnections: number;
}

/** Defaults for {@link HttpLimits}. */
export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  requestTimeoutMs: 15_000,
  headersTimeoutMs: 10_000,
  connectionsCheckMs: 1_000,
  maxConnections: 1_024,
};

/**
 * Slow-loris protection for a node:http server. Node checks the timeouts only every connectionsCheckingInterval
 * (30 s by default), so without a short interval a slow request lives up to the timeout plus 30 s.
 */
export function limitedServerOptions(limits: HttpLimits) {
  return {
    requestTimeout: limits.requestTimeoutMs,
    headersTimeout: Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs),
    connectionsCheckingInterval: limits.connectionsCheckMs,
  };
}

/** The node's HTTP port: /webhook for WeCom, /healthz and /readyz for orchestrators (/metrics has its own port). */
export class RelayHttpServer {
  private readonly server: Server;
  private closing: Promise<void> | null = null;

  constructor(private readonly o: RelayHttpServerOptions) {
    const limits = o.limits ?? DEFAULT_HTTP_LIMITS;
    this.server = createServer(limitedServerOptions(limits), (req, res) => {
      this.route(req, res).catch((err: unknown) => {
        o.logger.error({ err, url: req.url?.split('?')[0] }, 'http handler failed');
        sendError(res, new RelayError('INTERNAL'));
      });
    });
    this.server.maxConnections = limits.maxConnections;
  }

  /** Starts listening. */
  listen(): Promise<void> {
    return listenOn(this.server, this.o.port, this.o.host);
  }

  /** The bound port (useful when configured as 0). */
  port(): number {
    return boundPort(this.server);
  }

  /** Stops accepting and closes idle connections. Idempotent. */
  close(): Promise<void> {
    this.closing ??= closeServer(this.server);
    return this.closing;
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/webhook' && (req.method === 'GET' || req.method === 'POST')) return this.o.webhook(req, res);
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendText(res, 405, 'method not allowed\n');
    if (path === MEDIA_LINK_PATH && this.o.media) {
      return this.o.media(req, res, new URL(req.url ?? '/', 'http://relay.invalid').searchParams);
    }
    switch (path) {
      case '/healthz':
        return sendText(res, 200, JSON.stringify({ status: 'ok', ...this.o.health() }), 'application/json');
      case '/readyz': {
        const r = this.o.readiness();
        return sendText(res, r.ready ? 200 : 503, JSON.stringify(r), 'application/json');
      }
      default:
        return sendText(res, 404, 'not found\n');
    }
  }
}
