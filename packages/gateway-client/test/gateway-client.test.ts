import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { GatewayClient, GatewayClientError } from '../src/index.js';

/** What the scripted relay saw from one socket: parsed text frames and raw binary payloads. */
interface Seen {
  frames: Record<string, unknown>[];
  binary: Buffer[];
}

/**
 * A tiny relay stand-in: it authenticates `good-token`, acks hello, replies, unbind_all, answers create_binding,
 * refuses replies to `stranger`, and lets a test push any frame to the socket.
 */
class ScriptedRelay {
  readonly sockets: WebSocket[] = [];
  readonly seen: Seen[] = [];
  private readonly wss: WebSocketServer;

  constructor() {
    this.wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    this.wss.on('connection', (ws) => this.accept(ws));
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.wss.address() as AddressInfo).port}`;
  }

  async ready(): Promise<void> {
    if ((this.wss.address() as AddressInfo | null)?.port) return;
    await once(this.wss, 'listening');
  }

  /** The most recent socket, after its hello. */
  latest(): { ws: WebSocket; seen: Seen } {
    const ws = this.sockets.at(-1);
    const seen = this.seen.at(-1);
    if (!ws || !seen) throw new Error('no socket yet');
    return { ws, seen };
  }

  push(frame: Record<string, unknown> | string): void {
    this.latest().ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  async stop(): Promise<void> {
    for (const ws of this.wss.clients) ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  private accept(ws: WebSocket): void {
    const seen: Seen = { frames: [], binary: [] };
    this.sockets.push(ws);
    this.seen.push(seen);
    ws.on('message', (data: Buffer, isBinary) => {
      if (isBinary) {
        seen.binary.push(data);
        return;
      }
      let frame: Record<string, unknown>;
      try {
        frame = JSON.parse(data.toString('utf8')) as Record<string, unknown>;
      } catch {
        seen.frames.push({ unparsed: data.toString('utf8') });
        return;
      }
      seen.frames.push(frame);
      this.answer(ws, frame);
    });
  }

  private answer(ws: WebSocket, frame: Record<string, unknown>): void {
    const type = String(frame.type);
    const cs = type.startsWith('cs_');
    const p = cs ? 'cs_' : '';
    const send = (f: Record<string, unknown>): void => ws.send(JSON.stringify(f));
    const base = cs ? type.slice(3) : type;
    if (base === 'hello') {
      if (frame.auth_token !== 'good-token') {
        send({ type: `${p}error`, message: 'authentication failed', code: 'AUTH_FAILED' });
        ws.close(4003, 'authentication failed');
        return;
      }
      send({ type: `${p}ack`, id: `${p}hello` });
    } else if (base === 'reply' || base === 'image_reply') {
      const user = cs ? frame.customer_id : frame.external_user_id;
      if (user === 'silent') return;
      if (user === 'stranger') {
        send({ type: `${p}error`, id: frame.id, code: 'NOT_BOUND', message: 'not bound' });
      } else {
        send({ type: `${p}ack`, id: frame.id, msgid: `wecom-${String(frame.id)}` });
      }
    } else if (base === 'create_binding') {
      send({ type: `${p}create_binding_ack`, token: 'a1b2c3d4', customer_service_url: 'https://kf.example/x?scene_param=a1b2c3d4' });
    } else if (base === 'unbind_all') {
      send({ type: `${p}ack`, id: `${p}unbind_all` });
    }
  }
}

let relay: ScriptedRelay;
const clients: GatewayClient[] = [];

function client(overrides: Partial<ConstructorParameters<typeof GatewayClient>[0]> = {}): GatewayClient {
  const c = new GatewayClient({
    url: relay.url,
    gatewayId: 'gw-1',
    authToken: 'good-token',
    dialect: 'plain',
    timeoutMs: 3_000,
    ...overrides,
  });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  relay = new ScriptedRelay();
  await relay.ready();
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

afterAll(async () => {
  await relay.stop();
});

describe('GatewayClient, dialect 1', () => {
  it('sends a plain hello without delivery fields and resolves on the hello ack', async () => {
    const gw = client();
    await gw.connect();
    expect(gw.isConnected).toBe(true);
    expect(relay.latest().seen.frames[0]).toEqual({ type: 'hello', gateway_id: 'gw-1', auth_token: 'good-token' });
    expect(gw.received[0]).toEqual({ type: 'ack', id: 'hello' });
  });

  it('resolves a reply with the ack carrying its id and rejects with the error frame carrying its id', async () => {
    const gw = client();
    await gw.connect();
    const ack = await gw.reply('wm-alice', 'hello there', 'r-1');
    expect(ack).toEqual({ type: 'ack', id: 'r-1', msgid: 'wecom-r-1' });
    expect(relay.latest().seen.frames[1]).toEqual({
      type: 'reply',
      id: 'r-1',
      external_user_id: 'wm-alice',
      content: 'hello there',
    });

    const failure = await gw.reply('stranger', 'hi', 'r-2').catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(GatewayClientError);
    expect(failure).toMatchObject({
      code: 'NOT_BOUND',
      requestId: 'r-2',
      message: 'relay error: not bound',
      frame: { type: 'error', id: 'r-2', code: 'NOT_BOUND' },
    });
  });

  it('sends image replies as base64 and generates ids when none is given', async () => {
    const gw = client();
    await gw.connect();
    const png = Buffer.from('89504e470d0a1a0a0000', 'hex');
    const ack = await gw.imageReply('wm-alice', png, 'image/png');
    const sent = relay.latest().seen.frames[1];
    expect(sent).toMatchObject({
      type: 'image_reply',
      external_user_id: 'wm-alice',
      image_data: png.toString('base64'),
      image_mime: 'image/png',
    });
    expect(typeof sent?.id).toBe('string');
    expect(ack.id).toBe(sent?.id);
  });

  it('returns the token and url of create_binding_ack and resolves unbind_all on its ack', async () => {
    const gw = client();
    await gw.connect();
    const offer = await gw.createBinding();
    expect(offer.token).toBe('a1b2c3d4');
    expect(offer.customerServiceUrl).toContain('scene_param=a1b2c3d4');
    expect(relay.latest().seen.frames[1]).toEqual({ type: 'create_binding', gateway_id: 'gw-1' });

    const ack = await gw.unbindAll();
    expect(ack).toEqual({ type: 'ack', id: 'unbind_all' });
    expect(relay.latest().seen.frames[2]).toEqual({ type: 'unbind_all', gateway_id: 'gw-1' });
  });

  it('records every frame, normalizes inbound ones and finds frames that already arrived', async () => {
    const gw = client();
    await gw.connect();
    relay.push({ type: 'binding_resolved', external_user_id: 'wm-alice', gateway_id: 'gw-1' });
    relay.push({
      type: 'inbound',
      id: 'msg-1',
      external_user_id: 'wm-alice',
      msg_type: 'image',
      content: '',
      timestamp: 1700000000,
      media_data: 'AAEC',
      media_mime: 'image/png',
    });
    relay.push('this is not json');
    await gw.waitFor((f) => f.type === '__invalid__');

    const again = await gw.waitFor((f) => f.type === 'inbound');
    expect(again.id).toBe('msg-1');
    expect(gw.inbound()).toEqual([
      {
        id: 'msg-1',
        externalUserId: 'wm-alice',
        msgType: 'image',
        content: '',
        timestamp: 1700000000,
        mediaData: 'AAEC',
        mediaMime: 'image/png',
        raw: again,
      },
    ]);
    expect(gw.resolvedBindings()).toEqual(['wm-alice']);
    expect(gw.received.at(-1)).toEqual({ type: '__invalid__', raw: 'this is not json' });
  });

  it('times out a waitFor with the recent frames in the message', async () => {
    const gw = client();
    await gw.connect();
    const err = await gw.waitFor((f) => f.type === 'never', 200).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TIMEOUT' });
    expect(String((err as Error).message)).toContain('"id":"hello"');
  });
});

describe('GatewayClient, dialect 2', () => {
  it('speaks cs_ frames with customer_id and platform', async () => {
    const gw = client({ dialect: 'cs', gatewayId: 'gw-cs' });
    await gw.connect();
    await gw.reply('wm-bob', 'hi', 'c-1');
    await gw.unbindAll();
    const frames = relay.latest().seen.frames;
    expect(frames[0]).toEqual({ type: 'cs_hello', gateway_id: 'gw-cs', auth_token: 'good-token' });
    expect(frames[1]).toEqual({ type: 'cs_reply', id: 'c-1', customer_id: 'wm-bob', content: 'hi', platform: 'wecom' });
    expect(frames[2]).toEqual({ type: 'cs_unbind_all', gateway_id: 'gw-cs' });

    relay.push({
      type: 'cs_inbound',
      id: 'm-2',
      platform: 'wecom',
      customer_id: 'wm-bob',
      msg_type: 'text',
      content: '你好',
      timestamp: 1700000001,
    });
    const message = await gw.waitForInbound((m) => m.id === 'm-2');
    expect(message).toMatchObject({ externalUserId: 'wm-bob', msgType: 'text', content: '你好', timestamp: 1700000001 });
  });
});

describe('GatewayClient, acknowledged delivery', () => {
  it('asks for ack delivery in hello, acks each delivery_id and leaves redeliveries out of inbound()', async () => {
    const gw = client({ delivery: 'ack', resumeAfter: 'd-0' });
    await gw.connect();
    const { seen } = relay.latest();
    expect(seen.frames[0]).toEqual({
      type: 'hello',
      gateway_id: 'gw-1',
      auth_token: 'good-token',
      delivery: 'ack',
      resume_after: 'd-0',
    });

    const inbound = (id: string, deliveryId: string): Record<string, unknown> => ({
      type: 'inbound',
      id,
      external_user_id: 'wm-carol',
      msg_type: 'text',
      content: id,
      timestamp: 1,
      delivery_id: deliveryId,
    });
    relay.push(inbound('m-1', 'd-1'));
    relay.push(inbound('m-1', 'd-1'));
    relay.push(inbound('m-2', 'd-2'));
    await gw.waitForInbound((m) => m.id === 'm-2');

    expect(gw.inbound().map((m) => [m.id, m.deliveryId])).toEqual([
      ['m-1', 'd-1'],
      ['m-2', 'd-2'],
    ]);
    expect(gw.duplicates).toEqual([inbound('m-1', 'd-1')]);
    expect(gw.received.filter((f) => f.type === 'inbound')).toHaveLength(3);
    // Acks cross the wire after the frames that caused them; a reply round trip orders them before our check.
    await gw.reply('wm-carol', 'sync', 'sync-1');
    const acks = seen.frames.filter((f) => f.type === 'delivery_ack');
    expect(acks).toEqual([
      { type: 'delivery_ack', delivery_id: 'd-1' },
      { type: 'delivery_ack', delivery_id: 'd-1' },
      { type: 'delivery_ack', delivery_id: 'd-2' },
    ]);
  });

  it('uses cs_delivery_ack in dialect 2 and leaves acking to the caller when autoAck is off', async () => {
    const gw = client({ dialect: 'cs', delivery: 'ack', autoAck: false });
    await gw.connect();
    relay.push({ type: 'cs_binding_resolved', platform: 'wecom', customer_id: 'wm-dan', gateway_id: 'gw-1', delivery_id: 'd-9' });
    const frame = await gw.waitFor((f) => f.type === 'cs_binding_resolved');
    gw.ackDelivery(String(frame.delivery_id));
    await gw.reply('wm-dan', 'sync', 'sync-2');
    const acks = relay.latest().seen.frames.filter((f) => String(f.type).endsWith('delivery_ack'));
    expect(acks).toEqual([{ type: 'cs_delivery_ack', delivery_id: 'd-9' }]);
    expect(gw.resolvedBindings()).toEqual(['wm-dan']);
  });
});

describe('GatewayClient, sockets', () => {
  it('rejects connect with the close code when the relay refuses the token', async () => {
    const gw = client({ authToken: 'wrong' });
    const err = await gw.connect().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'CLOSED', closeCode: 4003 });
    expect(await gw.closed).toEqual({ code: 4003, reason: 'authentication failed' });
    expect(gw.received).toContainEqual(expect.objectContaining({ type: 'error', code: 'AUTH_FAILED' }));
  });

  it('rejects connect with CONNECT_FAILED when nothing listens', async () => {
    const probe = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await once(probe, 'listening');
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const gw = client({ url: `ws://127.0.0.1:${port}` });
    await expect(gw.connect()).rejects.toMatchObject({ code: 'CONNECT_FAILED' });
  });

  it('sends raw text and binary frames unchanged', async () => {
    const gw = client();
    await gw.connect();
    gw.sendRaw('{"type":');
    gw.sendRaw(Buffer.from([1, 2, 3]));
    await gw.reply('wm-alice', 'sync', 'sync-3');
    const { seen } = relay.latest();
    expect(seen.frames).toContainEqual({ unparsed: '{"type":' });
    expect(seen.binary).toEqual([Buffer.from([1, 2, 3])]);
  });

  it('refuses requests before connect and fails pending ones when the socket closes', async () => {
    const gw = client();
    await expect(gw.reply('wm-alice', 'x')).rejects.toMatchObject({ code: 'NOT_CONNECTED' });
    await gw.connect();
    const unanswered = gw.reply('silent', 'the scripted relay never answers this');
    relay.latest().ws.close(4009, 'slow');
    await expect(unanswered).rejects.toMatchObject({ code: 'CLOSED', closeCode: 4009 });
    expect(await gw.closed).toEqual({ code: 4009, reason: 'slow' });
    expect(gw.isConnected).toBe(false);
  });

  it('opens a socket without hello when asked, so a test can send anything first', async () => {
    const gw = client();
    await gw.open();
    gw.sendFrame({ type: 'reply', id: 'early', external_user_id: 'wm-alice', content: 'before hello' });
    await gw.waitFor((f) => f.type === 'ack' && f.id === 'early');
    expect(relay.latest().seen.frames).toEqual([
      { type: 'reply', id: 'early', external_user_id: 'wm-alice', content: 'before hello' },
    ]);
    expect(gw.isConnected).toBe(false);
  });

  it('reconnects on the same instance and keeps the frame history', async () => {
    const gw = client();
    await gw.connect();
    await gw.close();
    expect(gw.isConnected).toBe(false);
    await gw.connect();
    const helloAcks = gw.received.filter((f) => f.type === 'ack' && f.id === 'hello');
    expect(helloAcks).toHaveLength(2);
    await expect(gw.reply('wm-alice', 'after reconnect')).resolves.toMatchObject({ type: 'ack' });
  });
});
