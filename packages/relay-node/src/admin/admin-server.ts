import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { RelayError, isRelayError } from '../errors/relay-error.js';
import { readBody } from '../http/read-body.js';
import { sendError } from '../http/respond.js';
import { adminCaller, type AdminToken } from './admin-tokens.js';
import type { AdminOperations } from './admin-operations.js';
import { boundPort, closeServer, listenOn } from '../http/http-listener.js';

/** Options for {@link AdminServer}. */
export interface AdminServerOptions {
  host: string;
  port: number;
  tokens: readonly AdminToken[];
  operations: AdminOperations;
  logger: Logger;
  /** Counts each request by route and status. */
  onRequest?: (route: string, status: number) => void;
}

interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  /** Path pattern; `:name` segments are captured (URL-decoded). */
  pattern: string;
  /** Mutating routes are logged with who asked and what. */
  mutating: boolean;
  handle: (params: Record<string, string>, body: Record<string, unknown>, caller: string) => Promise<{ status: number; body: unknown }>;
}

const MAX_BODY_BYTES = 4_096;

/**
 * The admin API on its own port (loopback by default): bearer-token authentication against named tokens, JSON in
 * and out, errors as `{code, message}` with the catalog's status. Every mutating call is logged with the token's
 * name and what it did; tokens themselves never reach a log line.
 */
export class AdminServer {
  private readonly server: Server;
  private readonly routes: Route[];
  private closing: Promise<void> | null = null;

  constructor(private readonly o: AdminServerOptions) {
    const ops = o.operations;
    this.routes = [
      { method: 'GET', pattern: '/v1/nodes', mutating: false, handle: async () => ({ status: 200, body: { nodes: await ops.nodes() } }) },
      {
        method: 'POST',
        pattern: '/v1/nodes/:nodeId/drain',
        mutating: true,
        handle: async (p, _b, caller) => ({ status: 202, body: await ops.drain(p.nodeId!, caller) }),
      },
      { method: 'GET', pattern: '/v1/gateways/:gatewayId', mutating: false, handle: async (p) => ({ status: 200, body: await ops.gateway(p.gatewayId!) }) },
      {
        method: 'GET',
        pattern: '/v1/gateways/:gatewayId/bindings',
        mutating: false,
        handle: async (p) => ({ status: 200, body: { gatewayId: p.gatewayId, users: await ops.bindings(p.gatewayId!) } }),
      },
      {
        method: 'GET',
        pattern: '/v1/gateways/:gatewayId/backlog',
        mutating: false,
        handle: async (p) => ({ status: 200, body: { gatewayId: p.gatewayId, ...(await ops.backlog(p.gatewayId!)) } }),
      },
      {
        method: 'DELETE',
        pattern: '/v1/gateways/:gatewayId/bindings',
        mutating: true,
        handle: async (p) => ({ status: 200, body: await ops.unbindGateway(p.gatewayId!) }),
      },
      {
        method: 'DELETE',
        pattern: '/v1/users/:externalUserId/binding',
        mutating: true,
        handle: async (p) => ({ status: 200, body: await ops.unbindUser(p.externalUserId!) }),
      },
      {
        method: 'POST',
        pattern: '/v1/gateways/:gatewayId/redeliver',
        mutating: true,
        handle: async (p, body, caller) => {
          const after = body.after ?? null;
          if (after !== null && (typeof after !== 'string' || after.length === 0 || after.length > 64)) {
            throw new RelayError('ADMIN_BAD_REQUEST', '"after" must be a delivery id (a string) or null');
          }
          const result = await ops.redeliver(p.gatewayId!, after, caller);
          return { status: result.forwarded ? 202 : 200, body: { gatewayId: p.gatewayId, ...result } };
        },
      },
    ];
    this.server = createServer((req, res) => void this.serve(req, res));
    this.server.requestTimeout = 15_000;
    this.server.headersTimeout = 10_000;
  }

  /** Starts listening. */
  listen(): Promise<void> {
    return listenOn(this.server, this.o.port, this.o.host);
  }

  /** The bound port. */
  port(): number {
    return boundPort(this.server);
  }

  /** Stops listening and closes idle connections. Idempotent. */
  close(): Promise<void> {
    this.closing ??= closeServer(this.server);
    return this.closing;
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!;
    let label = 'unknown';
    try {
      const found = this.match(req.method ?? 'GET', path);
      label = found ? `${found.route.method} ${found.route.pattern}` : 'unknown';
      // Authentication comes first, so nothing about the API's routes is learnt without a token.
      const caller = adminCaller(this.o.tokens, req.headers.authorization);
      if (caller === null) {
        this.o.logger.warn({ method: req.method, path: label, remoteAddress: req.socket.remoteAddress }, 'admin request refused: no valid bearer token');
        throw new RelayError('ADMIN_UNAUTHORIZED');
      }
      if (!found) throw new RelayError('ADMIN_NOT_FOUND', `no admin route ${req.method} ${path}`);
      const body = found.route.method === 'POST' ? await this.jsonBody(req) : {};
      const result = await found.route.handle(found.params, body, caller);
      if (found.route.mutating) {
        this.o.logger.info({ admin: caller, action: label, ...found.params, ...(body.after !== undefined ? { after: body.after } : {}), result: result.body }, 'admin action');
      }
      this.send(res, result.status, result.body);
      this.o.onRequest?.(label, result.status);
    } catch (err) {
      const relayErr = isRelayError(err) ? err : new RelayError('INTERNAL');
      if (!isRelayError(err)) this.o.logger.error({ err, path: label }, 'admin request failed');
      if (relayErr.code === 'ADMIN_UNAUTHORIZED') res.setHeader('www-authenticate', 'Bearer realm="wecom-relay-admin"');
      sendError(res, relayErr);
      this.o.onRequest?.(label, relayErr.status ?? 500);
    }
  }

  private match(method: string, path: string): { route: Route; params: Record<string, string> } | null {
    const parts = path.split('/');
    for (const route of this.routes) {
      if (route.method !== method) continue;
      const want = route.pattern.split('/');
      if (want.length !== parts.length) continue;
      const params: Record<string, string> = {};
      let ok = true;
      for (let i = 0; i < want.length && ok; i++) {
        if (want[i]!.startsWith(':')) {
          try {
            params[want[i]!.slice(1)] = decodeURIComponent(parts[i]!);
          } catch {
            ok = false;
          }
          ok &&= params[want[i]!.slice(1)] !== '';
        } else ok = want[i] === parts[i];
      }
      if (ok) return { route, params };
    }
    return null;
  }

  private async jsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
    let raw: Buffer;
    try {
      raw = await readBody(req, MAX_BODY_BYTES);
    } catch {
      throw new RelayError('ADMIN_BAD_REQUEST', `the body must be JSON of at most ${MAX_BODY_BYTES} bytes`);
    }
    if (raw.length === 0) return {};
    try {
      const value: unknown = JSON.parse(raw.toString('utf8'));
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
    } catch {
      // reported below
    }
    throw new RelayError('ADMIN_BAD_REQUEST', 'the body must be a JSON object');
  }

  private send(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }
}
