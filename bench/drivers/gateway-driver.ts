/**
 * A gateway driver process: opens many gateway connections (relay SDK gateways, protocol v1 gateways as deployed, or
 * Socket.IO clients), records when each message frame arrives, and answers the bench over IPC. Several drivers share
 * the load because one process may hold at most 20,000 open files on the benchmark machine.
 */
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { io, type Socket } from 'socket.io-client';
import { MemoryDeliveryStore, RelayGateway, backoffDelay, resolveBackoff } from '@wecom-relay/gateway';
import { gatewayAuthToken } from '@wecom-relay/shared';
import { gatewayName } from '../lib/naming.js';
import { serveIpc } from '../lib/ipc-child.js';
import type { DriverReply, DriverRequest, GatewaySpec } from './driver-protocol.js';

/** Sub-millisecond wall clock (the fake WeCom stamps pages with Date.now(), so both sides share the epoch). */
const now = (): number => performance.timeOrigin + performance.now();

const receivedIds: string[] = [];
const receivedAt: number[] = [];
const closers: Array<() => Promise<void> | void> = [];
const open = new Set<number>();
let marked = false;
const dropped = new Set<number>();
const reopened = new Set<number>();
let lastReopenAt = 0;

function record(id: string): void {
  receivedIds.push(id);
  receivedAt.push(now());
}

function onOpen(index: number): void {
  open.add(index);
  // A gateway that drops twice is counted once, as back when it is open again.
  if (marked && dropped.has(index) && !reopened.has(index)) {
    reopened.add(index);
    lastReopenAt = now();
  }
}

function onDrop(index: number): void {
  if (!open.delete(index)) return;
  if (marked) {
    dropped.add(index);
    reopened.delete(index);
  }
}

/** Order of nodes a gateway tries: its home, then (once home failed) the others starting at a spread-out one. */
function urlSequence(urls: string[], spec: GatewaySpec): (attempt: number) => string {
  const n = urls.length;
  const alt = n > 1 ? (spec.home + 1 + (spec.index % (n - 1))) % n : spec.home;
  return (attempt) => (attempt === 0 ? urls[spec.home]! : urls[(alt + attempt - 1) % n]!);
}

const store = new MemoryDeliveryStore();

function relayGateway(urls: string[], spec: GatewaySpec, secret: string, timeoutMs: number): Promise<void> {
  const gatewayId = gatewayName(spec.index);
  const pick = urlSequence(urls, spec);
  let attempt = 0;
  // The SDK dials its one URL; this class stands in for a client that knows several nodes (DNS with several records).
  class FailoverWebSocket extends WebSocket {
    constructor(_url: string) {
      super(pick(attempt++));
    }
  }
  const client = new RelayGateway({
    url: urls[spec.home]!,
    gatewayId,
    authToken: gatewayAuthToken(secret, gatewayId),
    dialect: 'plain',
    WebSocket: FailoverWebSocket,
    store,
    helloTimeoutMs: timeoutMs,
  });
  client.on('inbound', (message) => record(message.id));
  client.on('state', (change) => {
    if (change.state === 'open') onOpen(spec.index);
    else onDrop(spec.index);
  });
  closers.push(() => client.close());
  return client.start();
}

/** The SDK's default reconnect backoff (500 ms doubling to 30 s, half of it jitter), for the gateways it does not drive. */
const SDK_BACKOFF = resolveBackoff();

/**
 * A gateway as the deployed ones speak protocol v1: hello without a `delivery` field, so the relay delivers without
 * acknowledgements, and frames taken as they come. It fails over and backs off as the SDK does.
 */
function legacyGateway(urls: string[], spec: GatewaySpec, secret: string, timeoutMs: number): Promise<void> {
  const gatewayId = gatewayName(spec.index);
  const pick = urlSequence(urls, spec);
  const hello = JSON.stringify({ type: 'hello', gateway_id: gatewayId, auth_token: gatewayAuthToken(secret, gatewayId) });
  let dials = 0;
  let failures = 0;
  let stopped = false;
  let socket: WebSocket | undefined;
  let retry: NodeJS.Timeout | undefined;
  closers.push(() => {
    stopped = true;
    clearTimeout(retry);
    socket?.close();
  });
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      settled = true;
      reject(new Error(`${gatewayId}: no hello ack within ${timeoutMs} ms`));
    }, timeoutMs);
    const dial = (): void => {
      const ws = new WebSocket(pick(dials++));
      socket = ws;
      ws.on('open', () => ws.send(hello));
      ws.on('message', (data) => {
        const frame = JSON.parse(String(data)) as { type?: unknown; id?: unknown };
        if (frame.type === 'inbound' && typeof frame.id === 'string') record(frame.id);
        else if (frame.type === 'ack' && frame.id === 'hello') {
          failures = 0;
          onOpen(spec.index);
          if (!settled) {
            settled = true;
            clearTimeout(timer);
            resolve();
          }
        }
      });
      // 'close' follows every error.
      ws.on('error', () => undefined);
      ws.on('close', () => {
        onDrop(spec.index);
        if (stopped) return;
        retry = setTimeout(dial, backoffDelay(SDK_BACKOFF, failures++, Math.random()));
      });
    };
    dial();
  });
}

function peerGateway(urls: string[], spec: GatewaySpec, secret: string, timeoutMs: number): Promise<void> {
  const gatewayId = gatewayName(spec.index);
  const pick = urlSequence(urls, spec);
  // Reconnection as the relay SDK does it: 500 ms doubling to 30 s, half of it jitter.
  const socket: Socket = io(pick(0), {
    transports: ['websocket'],
    forceNew: true,
    auth: { gatewayId, token: gatewayAuthToken(secret, gatewayId) },
    reconnectionDelay: 500,
    reconnectionDelayMax: 30_000,
    randomizationFactor: 0.5,
    timeout: timeoutMs,
  });
  // The Manager dials `uri` on every attempt; moving it is how a Socket.IO client fails over to another node.
  socket.io.on('reconnect_attempt', (attempt) => {
    (socket.io as unknown as { uri: string }).uri = pick(attempt);
  });
  socket.on('inbound', (message: { msgid: string }) => record(message.msgid));
  socket.on('disconnect', () => onDrop(spec.index));
  closers.push(() => {
    socket.close();
  });
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${gatewayId}: no connect within ${timeoutMs} ms`)), timeoutMs);
    socket.on('connect', () => {
      onOpen(spec.index);
      clearTimeout(timer);
      resolve();
    });
  });
}

async function connect(req: Extract<DriverRequest, { type: 'connect' }>): Promise<DriverReply> {
  let ok = 0;
  let failed = 0;
  let firstError: string | undefined;
  const start = req.mode === 'relay' ? relayGateway : req.mode === 'relay-legacy' ? legacyGateway : peerGateway;
  let next = 0;
  // `batch` connects in flight at a time, each worker taking the next gateway as soon as its last one is in.
  await Promise.all(
    Array.from({ length: Math.min(req.batch, req.gateways.length) }, async () => {
      while (next < req.gateways.length) {
        const spec = req.gateways[next++]!;
        try {
          await start(req.urls, spec, req.relaySecret, req.timeoutMs);
          ok++;
        } catch (err) {
          failed++;
          firstError ??= String(err);
        }
      }
    }),
  );
  return { type: 'connected', ok, failed, ...(firstError ? { firstError } : {}) };
}

async function handle(req: DriverRequest): Promise<DriverReply> {
  switch (req.type) {
    case 'connect':
      return connect(req);
    case 'count':
      return { type: 'count', received: receivedIds.length, open: open.size };
    case 'drain': {
      const ids = receivedIds.splice(0);
      const at = receivedAt.splice(0);
      return { type: 'drained', ids, at };
    }
    case 'mark':
      marked = true;
      dropped.clear();
      reopened.clear();
      lastReopenAt = 0;
      return { type: 'marked' };
    case 'dropped':
      return { type: 'dropped', dropped: dropped.size, reopened: reopened.size, lastReopenAt };
    case 'close':
      await Promise.race([Promise.allSettled(closers.map((c) => c())), new Promise((r) => setTimeout(r, 10_000))]);
      return { type: 'closed' };
  }
}

serveIpc<DriverRequest, DriverReply>(handle, (reply) => {
  if (reply.type === 'closed') setTimeout(() => process.exit(0), 50);
});
