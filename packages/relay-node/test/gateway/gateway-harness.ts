import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { WebSocket, type ClientOptions } from 'ws';
import {
  gatewayAuthToken,
  timingSafeStringEqual,
  type HelloCommand,
} from '@wecom-relay/shared';
import { RelayError } from '../../src/errors/relay-error.js';
import { GatewayServer, GatewaySessionClosedError, type GatewayApp, type GatewayObserver, type GatewayServerOptions, type GatewaySession, type SessionCommand } from '../../src/gateway/index.js';

/** Shared secret the test app derives gateway tokens from. */
export const SECRET = 'gateway-test-secret';

/** A JSON frame as a client received it. */
export type Frame = Record<string, unknown>;

/** A gate a test opens to let a blocked handler continue. */
export interface Gate {
  promise: Promise<void>;
  open(): void;
}

/** Creates a closed gate. */
export function gate(): Gate {
  let open: () => void = () => {};
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** Polls until the condition holds; the test's own timeout bounds the wait. */
export async function until(condition: () => boolean, what: string, limitMs = 10_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** The application collaborator: real token check, records everything, answers replies with acks. */
export class TestApp implements GatewayApp {
  /** Ordered trace: `auth:<gw>`, `open-start:<gw>`, `open-done:<gw>`, `cmd:<type>:<id>`, `close:<gw>:<code>`. */
  readonly trace: string[] = [];
  readonly sessions: GatewaySession[] = [];
  readonly commands: SessionCommand[] = [];
  readonly closes: Array<{ session: GatewaySession; code: number; reason: string }> = [];
  /** When set, onSessionOpen waits for it before finishing. */
  openGate: Promise<void> | undefined;
  /** When set, onSessionOpen throws it (after waiting for openGate). */
  openError: Error | undefined;
  /** Reply ids whose handling waits for the gate. */
  readonly replyGates = new Map<string, Promise<void>>();
  /** When set, authenticate waits for it (after checking the token). */
  authGate: Promise<void> | undefined;

  async authenticate(hello: HelloCommand): Promise<void> {
    this.trace.push(`auth:${hello.gatewayId}`);
    if (this.authGate) await this.authGate;
    if (!timingSafeStringEqual(hello.authToken, gatewayAuthToken(SECRET, hello.gatewayId))) throw new RelayError('AUTH_FAILED');
  }

  async onSessionOpen(session: GatewaySession): Promise<void> {
    this.trace.push(`open-start:${session.gatewayId}`);
    this.sessions.push(session);
    if (this.openGate) await this.openGate;
    if (this.openError) throw this.openError;
    await session.send({ type: 'binding_cleared', gatewayId: session.gatewayId });
    this.trace.push(`open-done:${session.gatewayId}`);
  }

  async onCommand(session: GatewaySession, command: SessionCommand): Promise<void> {
    this.commands.push(command);
    this.trace.push(`cmd:${command.type}:${'id' in command ? command.id : ''}`);
    switch (command.type) {
      case 'reply': {
        await this.replyGates.get(command.id);
        if (command.content === 'not-bound') throw new RelayError('NOT_BOUND', undefined, { wecomErrcode: 95018 });
        if (command.content === 'crash') throw new Error('handler bug');
        // A write to some other session that failed: this session is still open, so it is this command's failure.
        if (command.content === 'closed-elsewhere') throw new GatewaySessionClosedError();
        await session.send({ type: 'ack', id: command.id });
        return;
      }
      case 'create_binding':
        await session.send({ type: 'create_binding_ack', token: 'a1b2c3d4', customerServiceUrl: 'https://work.weixin.qq.com/kf?scene_param=a1b2c3d4' });
        return;
      case 'unbind_all':
        await session.send({ type: 'ack', id: 'unbind_all' });
        return;
      default:
        return;
    }
  }

  async onSessionClose(session: GatewaySession, info: { code: number; reason: string }): Promise<void> {
    this.trace.push(`close:${session.gatewayId}:${info.code}`);
    this.closes.push({ session, ...info });
  }
}

/** Observer that counts every hook call. */
export class CountingObserver implements GatewayObserver {
  connectedNow = 0;
  readonly frameErrors: string[] = [];
  readonly inbound: string[] = [];
  readonly outbound: string[] = [];
  readonly refused: string[] = [];
  readonly slowCloses: string[] = [];
  connected(delta: number): void {
    this.connectedNow += delta;
  }
  frameError(code: string): void {
    this.frameErrors.push(code);
  }
  framesIn(type: string): void {
    this.inbound.push(type);
  }
  framesOut(type: string): void {
    this.outbound.push(type);
  }
  socketRefused(reason: string): void {
    this.refused.push(reason);
  }
  slowClosed(reason: string): void {
    this.slowCloses.push(reason);
  }
}

/** A pino logger whose lines land in an array, to check what gets logged. */
export function captureLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

/** A started server with its collaborators. */
export interface Harness {
  server: GatewayServer;
  app: TestApp;
  observer: CountingObserver;
  logs: string[];
  url: string;
}

const started: GatewayServer[] = [];
const clients: TestClient[] = [];

/** Starts a GatewayServer on a free port with a fresh TestApp. */
export async function startServer(overrides: Partial<GatewayServerOptions> = {}): Promise<Harness> {
  const app = new TestApp();
  const observer = new CountingObserver();
  const { logger, lines } = captureLogger();
  const server = new GatewayServer({ port: 0, host: '127.0.0.1', app, logger, observer, ...overrides });
  await server.start();
  started.push(server);
  return { server, app, observer, logs: lines, url: `ws://127.0.0.1:${server.address().port}/` };
}

/** Closes every server and client the test created. */
export async function cleanup(): Promise<void> {
  for (const client of clients.splice(0)) client.ws.terminate();
  await Promise.all(started.splice(0).map((s) => s.close()));
}

/** A real ws client that records frames in arrival order. */
export class TestClient {
  private readonly frames: Frame[] = [];
  private readonly waiters: Array<(frame: Frame) => void> = [];
  /** Resolves with the close code and reason the client saw. */
  readonly closed: Promise<{ code: number; reason: string }>;
  /** Server pings seen so far. */
  pings = 0;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      const frame = isBinary ? { binary: true } : (JSON.parse(String(data)) as Frame);
      const waiter = this.waiters.shift();
      if (waiter) waiter(frame);
      else this.frames.push(frame);
    });
    ws.on('ping', () => this.pings++);
    ws.on('error', () => {});
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  /** Connects and resolves once the upgrade completed. */
  static async connect(url: string, options: ClientOptions = {}): Promise<TestClient> {
    const client = new TestClient(new WebSocket(url, options));
    clients.push(client);
    await new Promise<void>((resolve, reject) => {
      client.ws.once('open', () => resolve());
      client.ws.once('error', reject);
    });
    return client;
  }

  /** Sends an object as JSON, or a string as is. */
  send(frame: Frame | string): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** The next frame not yet consumed. */
  next(): Promise<Frame> {
    const frame = this.frames.shift();
    if (frame) return Promise.resolve(frame);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Frames received and not yet consumed. */
  get unread(): number {
    return this.frames.length;
  }

  /** Sends a ping and waits for its pong: everything sent before it has been read by the server. */
  async roundTrip(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.ws.once('pong', () => resolve());
      this.ws.ping();
    });
  }

  /** Sends a valid hello in the dialect. */
  hello(gatewayId: string, dialect: 'plain' | 'cs' = 'plain', extra: Frame = {}): void {
    const token = gatewayAuthToken(SECRET, gatewayId);
    if (dialect === 'plain') this.send({ type: 'hello', gateway_id: gatewayId, auth_token: token, ...extra });
    else this.send({ type: 'cs_hello', platform: 'wecom', gateway_id: gatewayId, auth_token: token, ...extra });
  }

  /** Connects, says hello, and consumes the ack and the binding_cleared the test app sends on open. */
  static async session(url: string, gatewayId: string, dialect: 'plain' | 'cs' = 'plain'): Promise<TestClient> {
    const client = await TestClient.connect(url);
    client.hello(gatewayId, dialect);
    await client.next();
    await client.next();
    return client;
  }
}
