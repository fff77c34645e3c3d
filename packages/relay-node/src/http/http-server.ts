import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { RelayError } from '../errors/relay-error.js';
import { sendError, sendText } from './respond.js';

/** Options for {@link RelayHttpServer}. */
export interface RelayHttpServerOptions {
  host: string;
  port: number;
  webhook: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
  registry: Registry;
  /** Liveness: the process serves requests. */
  health: () => Record<string, unknown>;
  /** Readiness: every dependency is reachable and this node should receive traffic. */
  readiness: () => { ready: boolean; checks: Record<string, boolean> };
  logger: Logger;
}

/** The node's HTTP port: /webhook for WeCom, /metrics for Prometheus, /healthz and /readyz for orchestrators. */
export class RelayHttpServer {
  private readonly server: Server;
  private closing: Promise<void> | null = null;

  constructor(private readonly o: RelayHttpServerOptions) {
    this.server = createServer((req, res) => {
      this.route(req, res).catch((err: unknown) => {
        o.logger.error({ err, url: req.url?.split('?')[0] }, 'http handler failed');
        sendError(res, new RelayError('INTERNAL'));
      });
    });
    // Slow-loris protection: a request must arrive whole within this time.
    this.server.requestTimeout = 15_000;
    this.server.headersTimeout = 10_000;
  }

  /** Starts listening. */
  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.o.port, this.o.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  /** The bound port (useful when configured as 0). */
  port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Stops accepting and closes idle connections. Idempotent. */
  close(): Promise<void> {
    this.closing ??= new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeIdleConnections();
    });
    return this.closing;
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/webhook' && (req.method === 'GET' || req.method === 'POST')) return this.o.webhook(req, res);
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendText(res, 405, 'method not allowed\n');
    switch (path) {
      case '/metrics':
        return sendText(res, 200, await this.o.registry.metrics(), this.o.registry.contentType);
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
