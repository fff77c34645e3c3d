import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Hop-by-hop and length headers that must not be copied from one HTTP message to another. */
const SKIPPED_HEADERS = new Set(['connection', 'content-length', 'transfer-encoding', 'keep-alive', 'content-encoding', 'host']);

type KfMessage = Record<string, unknown> & { msgid: string };

/**
 * A real HTTP proxy between a relay and the fake WeCom that can make WeCom show an already-seen message again:
 * after `replayInNextSync(msgid)`, the next kf/sync_msg answer carries that message once more ahead of the new ones,
 * as happens when WeCom repeats a window. Everything else passes through byte for byte.
 */
export class SyncReplayProxy {
  /** How many times a message was injected into a sync_msg answer. */
  injected = 0;
  private readonly server: Server;
  private readonly seen = new Map<string, KfMessage>();
  private readonly toReplay: string[] = [];

  private constructor(private readonly target: string) {
    this.server = createServer((req, res) => {
      this.forward(req, res).catch((err: unknown) => {
        res.writeHead(502, { 'content-type': 'text/plain' }).end(`proxy error: ${String(err)}`);
      });
    });
  }

  /** Starts a proxy on a free local port in front of `target` (the fake's base URL). */
  static async start(target: string): Promise<SyncReplayProxy> {
    const proxy = new SyncReplayProxy(target.replace(/\/+$/, ''));
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  /** The proxy's base URL, for WECOM_API_BASE. */
  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Puts a message already returned once into the next sync_msg answer again; throws if it was never returned. */
  replayInNextSync(msgid: string): void {
    if (!this.seen.has(msgid)) throw new Error(`message ${msgid} has not passed through sync_msg yet`);
    this.toReplay.push(msgid);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async forward(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers)) {
      if (value === undefined || SKIPPED_HEADERS.has(name)) continue;
      headers.set(name, Array.isArray(value) ? value.join(', ') : value);
    }
    const upstream = await fetch(`${this.target}${req.url ?? '/'}`, {
      method: req.method ?? 'GET',
      headers,
      ...(req.method === 'GET' || req.method === 'HEAD' ? {} : { body: Buffer.concat(chunks) }),
    });
    let body: Buffer = Buffer.from(await upstream.arrayBuffer());
    if ((req.url ?? '').startsWith('/cgi-bin/kf/sync_msg')) body = this.rewriteSync(body);
    const out: Record<string, string> = {};
    upstream.headers.forEach((value, name) => {
      if (!SKIPPED_HEADERS.has(name)) out[name] = value;
    });
    res.writeHead(upstream.status, { ...out, 'content-length': String(body.length) }).end(body);
  }

  private rewriteSync(body: Buffer): Buffer {
    let parsed: { msg_list?: KfMessage[] };
    try {
      parsed = JSON.parse(body.toString('utf8')) as { msg_list?: KfMessage[] };
    } catch {
      return body;
    }
    if (!Array.isArray(parsed.msg_list)) return body;
    for (const message of parsed.msg_list) this.seen.set(message.msgid, message);
    const replays = this.toReplay.splice(0).flatMap((id) => {
      const message = this.seen.get(id);
      return message ? [message] : [];
    });
    if (replays.length === 0) return body;
    this.injected += replays.length;
    parsed.msg_list = [...replays, ...parsed.msg_list];
    return Buffer.from(JSON.stringify(parsed), 'utf8');
  }
}
