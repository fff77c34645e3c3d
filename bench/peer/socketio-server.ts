/**
 * The benchmark's peer: one server of a Socket.IO 4.8 cluster on `@socket.io/redis-adapter`, fed the way the relay
 * is fed. WeCom's callbacks reach every server; the one with PEER_PULL=1 pulls `kf/sync_msg` pages from the same
 * fake WeCom and emits each message to its gateway's room, which the adapter carries over Redis to whichever server
 * holds that socket. It keeps nothing durable: a message for a socket that is not connected is gone.
 */
import { createServer } from 'node:http';
import { Redis, Cluster } from 'ioredis';
import { Server } from 'socket.io';
import { createAdapter } from '@socket.io/redis-adapter';
import { gatewayAuthToken } from '@wecom-relay/shared';
import { gatewayOfUser } from '../lib/naming.js';

const env = process.env;
const need = (name: string): string => {
  const v = env[name];
  if (!v) throw new Error(`${name} is required`);
  return v;
};
const apiBase = need('WECOM_API_BASE');
const secret = need('RELAY_AUTH_SECRET');
const openKfid = need('WECOM_OPEN_KFID');

function redisClient(): Redis | Cluster {
  const cluster = env.REDIS_CLUSTER_NODES;
  if (cluster) {
    return new Cluster(
      cluster.split(',').map((hp) => ({ host: hp.split(':')[0]!, port: Number(hp.split(':')[1]) })),
    );
  }
  return new Redis(need('REDIS_URL'));
}

const pub = redisClient();
const sub = pub.duplicate();
const wsServer = createServer();
const ioServer = new Server(wsServer, { transports: ['websocket'], serveClient: false, adapter: createAdapter(pub, sub) });

ioServer.use((socket, next) => {
  const { gatewayId, token } = socket.handshake.auth as { gatewayId?: string; token?: string };
  if (typeof gatewayId === 'string' && token === gatewayAuthToken(secret, gatewayId)) next();
  else next(new Error('unauthorized'));
});
ioServer.on('connection', (socket) => {
  void socket.join(`gw:${(socket.handshake.auth as { gatewayId: string }).gatewayId}`);
});

let accessToken = '';
async function api(path: string, body: unknown): Promise<Record<string, unknown>> {
  if (!accessToken) {
    const q = new URLSearchParams({ corpid: need('WECOM_CORPID'), corpsecret: need('WECOM_APP_SECRET') });
    const t = (await (await fetch(`${apiBase}/cgi-bin/gettoken?${q}`)).json()) as { access_token: string };
    accessToken = t.access_token;
  }
  const res = await fetch(`${apiBase}/cgi-bin/${path}?access_token=${accessToken}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return (await res.json()) as Record<string, unknown>;
}

let cursor = '';
let pulling = false;
let again = false;
async function pull(): Promise<void> {
  if (pulling) {
    again = true;
    return;
  }
  pulling = true;
  try {
    do {
      again = false;
      for (;;) {
        const page = (await api('kf/sync_msg', { cursor, open_kfid: openKfid, limit: 1000 })) as {
          errcode: number;
          next_cursor: string;
          has_more: number;
          msg_list: Array<{ msgid: string; origin: number; external_userid?: string }>;
        };
        if (page.errcode !== 0) throw new Error(`sync_msg errcode ${page.errcode}`);
        for (const msg of page.msg_list) {
          if (msg.origin === 3 && msg.external_userid) ioServer.to(`gw:${gatewayOfUser(msg.external_userid)}`).emit('inbound', msg);
        }
        cursor = page.next_cursor;
        if (!page.has_more) break;
      }
    } while (again);
  } catch (err) {
    process.stderr.write(`pull failed: ${String(err)}\n`);
  } finally {
    pulling = false;
  }
}

const puller = env.PEER_PULL === '1';
const httpServer = createServer((req, res) => {
  if (req.url?.startsWith('/readyz') || req.url?.startsWith('/healthz')) {
    res.end('ok');
    return;
  }
  if (req.method === 'POST' && req.url?.startsWith('/webhook')) {
    req.resume();
    req.on('end', () => {
      res.end('success');
      if (puller) void pull();
    });
    return;
  }
  res.statusCode = 404;
  res.end();
});

httpServer.listen(Number(need('PORT')), '127.0.0.1');
wsServer.listen(Number(need('WS_PORT')), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ event: 'listening', ws: env.WS_PORT })}\n`);
});
process.on('SIGTERM', () => {
  void ioServer.close();
  httpServer.close();
  pub.disconnect();
  sub.disconnect();
  setTimeout(() => process.exit(0), 200);
});
