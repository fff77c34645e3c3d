import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { GatewayClient, baseType, resolvedUser } from '@wecom-relay/gateway-client';
import { gatewayAuthToken } from '@wecom-relay/shared';
import { startHaproxy, type HaproxyHandle } from '@wecom-relay/testkit';
import { adminCall, startAdminCluster, type AdminCluster } from './support/admin-cluster.js';
import { promMetric } from './support/prom-text.js';

/** Polls until `check` returns a value (not undefined), for at most `ms`. */
async function eventually<T>(what: string, check: () => Promise<T | undefined> | T | undefined, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * A gateway behind the balancer that reconnects whenever the relay closes it (as deployed gateways do on 1012),
 * in ack mode, so every message must reach it at least once whichever node it ends up on.
 */
class RoamingGateway {
  readonly clients: GatewayClient[] = [];
  private stopped = false;
  constructor(
    readonly gatewayId: string,
    private readonly url: string,
    private readonly token: string,
  ) {}

  async connect(): Promise<GatewayClient> {
    for (let attempt = 0; ; attempt++) {
      const client = new GatewayClient({ url: this.url, gatewayId: this.gatewayId, authToken: this.token, dialect: 'plain', delivery: 'ack' });
      try {
        await client.connect();
        this.clients.push(client);
        void client.closed.then(() => {
          if (!this.stopped) void this.connect();
        });
        return client;
      } catch (err) {
        if (this.stopped || attempt > 50) throw err;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  /** Ids of every inbound message received on any of its sockets. */
  inboundIds(): Set<string> {
    return new Set(this.clients.flatMap((c) => c.received.filter((f) => baseType(f.type) === 'inbound').map((f) => String(f.id))));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.allSettled(this.clients.map((c) => c.terminate()));
  }
}

describe('rebalancing (real nodes behind haproxy on a real Redis)', () => {
  let c: AdminCluster | undefined;
  let lb: HaproxyHandle | undefined;
  const gateways: RoamingGateway[] = [];
  afterAll(async () => {
    await Promise.allSettled(gateways.map((g) => g.stop()));
    await lb?.stop();
    await c?.stop();
  });

  it('a third node takes a fair share of existing sockets, within tolerance, and no message is lost', async () => {
    c = await startAdminCluster(2, { REBALANCE_INTERVAL_MS: '1000', REBALANCE_MAX_PER_INTERVAL: '2', REBALANCE_TOLERANCE_PERCENT: '20' });
    const cluster = c;
    // The balancer knows the third node from the start; it is out of rotation until its /readyz answers.
    lb = await startHaproxy(cluster.ports.slice(0, 3).map((p, i) => ({ name: `node-${i}`, httpPort: p.port, wsPort: p.wsPort })));
    const users = new Map<string, RoamingGateway>();
    for (let i = 0; i < 9; i++) {
      const id = `gw-roam-${i}`;
      const gw = new RoamingGateway(id, lb.wsUrl, gatewayAuthToken(cluster.corp.relaySecret, id));
      gateways.push(gw);
      const client = await gw.connect();
      const user = `wm${randomBytes(8).toString('hex')}`;
      const offer = await client.createBinding();
      await cluster.fake.control.scan({ external_userid: user, url: offer.customerServiceUrl });
      await client.waitFor((f) => baseType(f.type) === 'binding_resolved' && resolvedUser(f) === user, 15_000);
      users.set(user, gw);
    }
    const counts = async () => {
      const res = await adminCall(cluster.adminUrls[0]!, 'GET', '/v1/nodes', cluster.tokens.alice!);
      return Object.fromEntries((res.body.nodes as Array<{ nodeId: string; gateways: number }>).map((n) => [n.nodeId, n.gateways]));
    };
    await eventually('9 gateways on two nodes', async () => {
      const now = await counts();
      return (now['node-0'] ?? 0) + (now['node-1'] ?? 0) === 9 ? now : undefined;
    }, 30_000);

    // Customers keep writing while the sockets move.
    const sent: Array<{ msgid: string; gw: RoamingGateway }> = [];
    let pumping = true;
    const pump = (async () => {
      const list = [...users];
      for (let i = 0; pumping; i++) {
        const [user, gw] = list[i % list.length]!;
        const res = await cluster.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: `m${i}` });
        sent.push({ msgid: res.msgid, gw });
        await new Promise((r) => setTimeout(r, 100));
      }
    })();

    await cluster.addNode();
    // 9 over 3 nodes: average 3, tolerance 3.6, so only 3/3/3 is stable.
    const settled = await eventually('counts within tolerance on three nodes', async () => {
      const now = await counts();
      const values = ['node-0', 'node-1', 'node-2'].map((n) => now[n] ?? 0);
      return values.reduce((a, b) => a + b, 0) === 9 && values.every((v) => v <= 3.6) ? now : undefined;
    }, 90_000);
    expect(settled).toEqual({ 'node-0': 3, 'node-1': 3, 'node-2': 3 });

    pumping = false;
    await pump;
    expect(sent.length).toBeGreaterThan(5);
    const missing = await eventually('every message at its gateway', () => {
      const lost = sent.filter(({ msgid, gw }) => !gw.inboundIds().has(msgid));
      return lost.length === 0 ? lost : undefined;
    }, 60_000).catch(() => sent.filter(({ msgid, gw }) => !gw.inboundIds().has(msgid)).map((s) => s.msgid));
    expect(missing).toEqual([]);

    let closed = 0;
    for (const node of cluster.nodes.slice(0, 2)) {
      const text = await (await fetch(node.metricsUrl)).text();
      closed += promMetric(text, 'relay_rebalance_closed_total') ?? 0;
    }
    expect(closed).toBeGreaterThanOrEqual(3);
    expect(cluster.nodes[2]!.logs.some((l) => l.includes('rebalancing: closed'))).toBe(false);
  }, 240_000);
});
