import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { afterEach, expect } from 'vitest';
import {
  RelayGateway,
  type DeliveryStore,
  type Dialect,
  type InboundMessage,
  type RelayGatewayOptions,
} from '../../../packages/gateway-sdk/src/index.js';
import type { FakeWecomControlClient } from '@wecom-relay/testkit';

/** One line of an application's log: a customer message as its handler saw it. */
export interface AppLogEntry {
  msgid: string;
  user: string;
  content: string;
}

/** Options of {@link SdkApp}. */
export interface SdkAppOptions {
  url: string;
  gatewayId: string;
  authToken: string;
  dialect?: Dialect;
  store?: DeliveryStore;
  /** Throw from the handler on the first attempt of a message when this says so. */
  failFirstAttempt?: (message: InboundMessage) => boolean;
  /** Extra SDK options. */
  sdk?: Partial<RelayGatewayOptions>;
  /** Runs in the handler before the message is logged (e.g. to hold it). */
  beforeLog?: (message: InboundMessage) => Promise<void> | void;
}

/**
 * A `ws` WebSocket class whose sockets the test can reach: to cut the connection as a network fault would, or to
 * lose a delivery_ack on the way (the socket dies right after the frame was "sent").
 */
export class TappedSockets {
  readonly sockets: WebSocket[] = [];
  /** Delivery ids whose delivery_ack is lost, cutting the connection. */
  readonly loseAckOf = new Set<string>();
  readonly WebSocket: typeof WebSocket;

  constructor() {
    const tap = this;
    this.WebSocket = class extends WebSocket {
      constructor(url: string) {
        super(url);
        tap.sockets.push(this);
      }

      override send(data: unknown, ...rest: unknown[]): void {
        const text = typeof data === 'string' ? data : '';
        const ack = text.includes('delivery_ack') ? (JSON.parse(text) as { delivery_id?: string }).delivery_id : undefined;
        if (ack !== undefined && tap.loseAckOf.delete(ack)) {
          this.terminate();
          return;
        }
        (super.send as (...a: unknown[]) => void)(data, ...rest);
      }
    } as typeof WebSocket;
  }

  /** Drops the newest connection without a close handshake. */
  cut(): void {
    this.sockets.at(-1)?.terminate();
  }
}

/**
 * An application built on the SDK, in this process: its handler appends every customer message to `log` (the
 * application-level log a user would check), optionally failing the first attempt of some messages.
 */
export class SdkApp {
  readonly gateway: RelayGateway;
  readonly log: AppLogEntry[] = [];
  /** Handler runs that threw on purpose. */
  failures = 0;
  /** Every close code the app's connection saw. */
  readonly closeCodes: number[] = [];
  /** How many times the connection has opened. */
  opens = 0;
  private readonly attempted = new Set<string>();
  private readonly bound = new Set<string>();

  constructor(o: SdkAppOptions) {
    this.gateway = new RelayGateway({
      url: o.url,
      gatewayId: o.gatewayId,
      authToken: o.authToken,
      dialect: o.dialect ?? 'plain',
      WebSocket,
      reconnect: { initialDelayMs: 100, maxDelayMs: 2_000 },
      requestTimeoutMs: 20_000,
      ...(o.store ? { store: o.store } : {}),
      ...o.sdk,
    });
    this.gateway.on('inbound', async (message) => {
      if (o.failFirstAttempt?.(message) && !this.attempted.has(message.id)) {
        this.attempted.add(message.id);
        this.failures += 1;
        throw new Error(`planned failure for ${message.id}`);
      }
      await o.beforeLog?.(message);
      this.log.push({ msgid: message.id, user: message.externalUserId, content: message.content });
    });
    this.gateway.on('binding_resolved', (event) => {
      this.bound.add(event.externalUserId);
    });
    this.gateway.on('state', (change) => {
      if (change.state === 'reconnecting' && change.code !== undefined) this.closeCodes.push(change.code);
      if (change.state === 'open') this.opens += 1;
    });
  }

  get gatewayId(): string {
    return this.gateway.gatewayId;
  }

  /** Binds a WeCom user to this gateway by scan and waits until the app has heard binding_resolved. */
  async bind(control: FakeWecomControlClient, user: string, timeoutMs = 20_000): Promise<void> {
    const offer = await this.gateway.createBinding();
    await control.scan({ external_userid: user, url: offer.customerServiceUrl });
    const deadline = Date.now() + timeoutMs;
    while (!this.bound.has(user)) {
      if (Date.now() > deadline) throw new Error(`${this.gatewayId}: no binding_resolved for ${user} within ${timeoutMs} ms`);
      await sleep(50);
    }
  }
}

/** A customer message the test wrote, with its position among that customer's messages. */
export interface WrittenMessage {
  msgid: string;
  user: string;
  seq: number;
}

/** Polls until every message is in one of the logs, or the time is up. */
export async function waitForLogs(
  written: readonly WrittenMessage[],
  logs: () => readonly AppLogEntry[],
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const seen = new Set(logs().map((e) => e.msgid));
    if (written.every((m) => seen.has(m.msgid)) || Date.now() > deadline) return;
    await sleep(200);
  }
}

/**
 * The application-level promise: every written message appears in the log exactly once, and each customer's
 * messages appear in the order the customer wrote them.
 */
export function expectExactlyOnceInOrder(written: readonly WrittenMessage[], log: readonly AppLogEntry[]): void {
  const counts = new Map<string, number>();
  for (const entry of log) counts.set(entry.msgid, (counts.get(entry.msgid) ?? 0) + 1);
  const missing = written.filter((m) => !counts.has(m.msgid)).map((m) => `${m.user}#${m.seq}`);
  const repeated = [...counts].filter(([, n]) => n > 1).map(([id, n]) => `${id} x${n}`);
  expect(missing, 'messages the application never saw').toEqual([]);
  expect(repeated, 'messages the application saw more than once').toEqual([]);
  const seqOf = new Map(written.map((m) => [m.msgid, m]));
  const lastSeq = new Map<string, number>();
  const disorder: string[] = [];
  for (const entry of log) {
    const m = seqOf.get(entry.msgid);
    if (!m) continue;
    const prev = lastSeq.get(m.user) ?? -1;
    if (m.seq < prev) disorder.push(`${m.user}: #${m.seq} after #${prev}`);
    lastSeq.set(m.user, Math.max(prev, m.seq));
  }
  expect(disorder, 'customer messages out of the order they were written').toEqual([]);
}

/**
 * Vitest wiring for SDK apps against a relay stack: `app()` creates one connected to the stack's relay, with its
 * token; every app a test created is closed after it.
 */
export function useSdkApps(stack: () => { relay: { wsUrl: string }; tokenFor(gatewayId: string): string }): (
  gatewayId: string,
  options?: Partial<SdkAppOptions>,
) => SdkApp {
  const apps: SdkApp[] = [];
  afterEach(async () => {
    await Promise.allSettled(apps.splice(0).map((a) => a.gateway.close()));
  });
  return (gatewayId, options = {}) => {
    const app = new SdkApp({ url: stack().relay.wsUrl, gatewayId, authToken: stack().tokenFor(gatewayId), ...options });
    apps.push(app);
    return app;
  };
}
