import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseType, resolvedUser, type GatewayClient, type WireFrame } from '@wecom-relay/gateway-client';
import { adminCall, adminCli, startAdminCluster, type AdminCluster } from './support/admin-cluster.js';

/** Polls until `check` returns a value (not undefined), for at most `ms`. */
async function eventually<T>(what: string, check: () => Promise<T | undefined> | T | undefined, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const user = () => `wm${randomBytes(8).toString('hex')}`;

describe('admin API (two real nodes on a real Redis)', () => {
  let c: AdminCluster;
  let alice: string;
  beforeAll(async () => {
    c = await startAdminCluster(2);
    alice = c.tokens.alice!;
  }, 120_000);
  afterAll(async () => {
    await c?.stop();
  });

  /** Binds a fresh user to a gateway by scan; in ack mode acknowledges the binding event. */
  async function bind(gw: GatewayClient): Promise<string> {
    const u = user();
    const offer = await gw.createBinding();
    await c.fake.control.scan({ external_userid: u, url: offer.customerServiceUrl });
    const frame = await gw.waitFor((f) => baseType(f.type) === 'binding_resolved' && resolvedUser(f) === u, 15_000);
    if (typeof frame.delivery_id === 'string') gw.ackDelivery(frame.delivery_id);
    return u;
  }

  it('refuses without a token, with a wrong one, a near miss or another scheme: 401 with a coded JSON error', async () => {
    const url = c.adminUrls[0]!;
    for (const token of [null, 'not-the-token-at-all-0000', `${alice.slice(0, -1)}x`, alice.slice(0, -1), `${alice}x`]) {
      const res = await adminCall(url, 'GET', '/v1/nodes', token);
      expect(res.status).toBe(401);
      expect(res.body.code).toBe('ADMIN_UNAUTHORIZED');
      expect(res.headers.get('www-authenticate')).toContain('Bearer');
    }
    const basic = await fetch(`${url}/v1/nodes`, { headers: { authorization: `Basic ${Buffer.from(`alice:${alice}`).toString('base64')}` } });
    expect(basic.status).toBe(401);
    // Unknown routes are not revealed before authentication either; mutating ones are refused the same way.
    expect((await adminCall(url, 'GET', '/v1/secret-route', null)).status).toBe(401);
    expect((await adminCall(url, 'POST', '/v1/nodes/node-1/drain', 'wrong-token-0123456789', {})).status).toBe(401);
    expect((await adminCall(url, 'GET', '/v1/secret-route', alice)).body.code).toBe('ADMIN_NOT_FOUND');
    const cli = await adminCli(['nodes', '--url', url], { RELAY_ADMIN_TOKEN: 'wrong-token-0123456789' });
    expect(cli.code).toBe(77);
    expect(cli.stderr).toContain('ADMIN_UNAUTHORIZED');
    await c.nodes[0]!.process.waitForLine((l) => l.includes('admin request refused'), 10_000);
  });

  it('lists every node and its gateways cluster-wide, from either node, and one gateway’s connection', async () => {
    const before = Date.now();
    const g1 = await c.gateway(0, 'gw-list-a', { delivery: 'ack' });
    await c.gateway(1, 'gw-list-b', { dialect: 'cs' });
    await bind(g1);
    for (const url of c.adminUrls) {
      const nodes = await eventually('both gateways listed', async () => {
        const res = await adminCall(url, 'GET', '/v1/nodes', alice);
        const list = res.body.nodes as Array<{ nodeId: string; gatewayIds: string[]; gateways: number }>;
        const ids = list.flatMap((n) => n.gatewayIds);
        return ids.includes('gw-list-a') && ids.includes('gw-list-b') ? list : undefined;
      });
      expect(nodes.map((n) => n.nodeId).sort()).toEqual(['node-0', 'node-1']);
      expect(nodes.find((n) => n.nodeId === 'node-0')!.gatewayIds).toContain('gw-list-a');
      expect(nodes.find((n) => n.nodeId === 'node-1')!.gatewayIds).toContain('gw-list-b');
    }
    const b = await eventually('details of gw-list-b', async () => {
      const res = await adminCall(c.adminUrls[0]!, 'GET', '/v1/gateways/gw-list-b', alice);
      return res.body.dialect ? res.body : undefined;
    });
    expect(b).toMatchObject({ gatewayId: 'gw-list-b', connected: true, node: 'node-1', dialect: 'cs', delivery: 'legacy', bindings: 0 });
    expect(Date.parse(b.since as string)).toBeGreaterThanOrEqual(before - 1_000);
    const a = (await adminCall(c.adminUrls[1]!, 'GET', '/v1/gateways/gw-list-a', alice)).body;
    expect(a).toMatchObject({ node: 'node-0', dialect: 'plain', delivery: 'ack', bindings: 1, backlog: { depth: 0 } });
    const cli = await adminCli(['gateway', 'gw-list-a', '--url', c.adminUrls[1]!], { RELAY_ADMIN_TOKEN: c.tokens.bob! });
    expect(cli.code).toBe(0);
    expect(JSON.parse(cli.stdout)).toMatchObject({ gatewayId: 'gw-list-a', node: 'node-0' });
    const offline = (await adminCall(c.adminUrls[0]!, 'GET', '/v1/gateways/gw-never', alice)).body;
    expect(offline).toMatchObject({ connected: false, node: null, bindings: 0, backlog: { depth: 0, oldestAgeMs: null } });
  });

  it('shows backlog and redelivers an ack-mode gateway from an id, in order, locally or through another node', async () => {
    const gw = await c.gateway(0, 'gw-redeliver', { delivery: 'ack', autoAck: false });
    const u = await bind(gw);
    const ids: string[] = [];
    for (const text of ['one', 'two', 'three']) {
      const sent = await c.fake.control.customerMessage({ external_userid: u, msgtype: 'text', content: text });
      const frame = await gw.waitFor((f) => f.type === 'inbound' && f.id === sent.msgid, 15_000);
      ids.push(frame.delivery_id as string);
    }
    gw.ackDelivery(ids[0]!);
    const backlog = await eventually('backlog of two', async () => {
      const res = await adminCall(c.adminUrls[1]!, 'GET', '/v1/gateways/gw-redeliver/backlog', alice);
      return res.body.depth === 2 ? res.body : undefined;
    });
    expect(backlog.oldestAgeMs).toBeGreaterThanOrEqual(0);
    expect(typeof backlog.oldestEnqueuedAt).toBe('string');

    const deliveryIds = () => gw.received.filter((f: WireFrame) => f.type === 'inbound').map((f) => f.delivery_id as string);
    // Through the other node: forwarded over the bus to node-0.
    const forwarded = await adminCall(c.adminUrls[1]!, 'POST', '/v1/gateways/gw-redeliver/redeliver', alice, { after: ids[0] });
    expect(forwarded.status).toBe(202);
    expect(forwarded.body).toMatchObject({ node: 'node-0', forwarded: true });
    await eventually('two and three again', () => (deliveryIds().length >= 5 ? true : undefined));
    expect(deliveryIds()).toEqual([ids[0], ids[1], ids[2], ids[1], ids[2]]);
    // On the node holding it, from the last acknowledged id (the default).
    const local = await adminCall(c.adminUrls[0]!, 'POST', '/v1/gateways/gw-redeliver/redeliver', alice, {});
    expect(local.status).toBe(200);
    expect(local.body).toMatchObject({ node: 'node-0', forwarded: false, after: ids[0] });
    await eventually('two and three a third time', () => (deliveryIds().length >= 7 ? true : undefined));
    expect(deliveryIds().slice(5)).toEqual([ids[1], ids[2]]);
    // Nothing after the last is lost: a new message follows in order once the window allows it.
    const later = await c.fake.control.customerMessage({ external_userid: u, msgtype: 'text', content: 'four' });
    const four = await gw.waitFor((f) => f.type === 'inbound' && f.id === later.msgid, 15_000);
    expect(deliveryIds().at(-1)).toBe(four.delivery_id);

    const bogus = await adminCall(c.adminUrls[0]!, 'POST', '/v1/gateways/gw-redeliver/redeliver', alice, { after: '99999999999999-0' });
    expect(bogus.status).toBe(409);
    expect(bogus.body.code).toBe('ADMIN_CONFLICT');
    expect((await adminCall(c.adminUrls[0]!, 'POST', '/v1/gateways/gw-redeliver/redeliver', alice, { after: 42 })).body.code).toBe('ADMIN_BAD_REQUEST');
    gw.ackDelivery(four.delivery_id as string);
    await eventually('an empty backlog', async () => {
      const res = await adminCall(c.adminUrls[0]!, 'GET', '/v1/gateways/gw-redeliver/backlog', alice);
      return res.body.depth === 0 ? true : undefined;
    });

    await c.gateway(0, 'gw-legacy');
    // The hello is acknowledged before the node has finished attaching the gateway: it is claimed (and shown connected)
    // a few store calls before its node holds it, and until then a redeliver answers 404 like any gateway not held.
    const refused = await eventually('gw-legacy held by its node', async () => {
      const res = await adminCall(c.adminUrls[0]!, 'POST', '/v1/gateways/gw-legacy/redeliver', alice, {});
      return res.status === 404 ? undefined : res;
    });
    expect(refused.status).toBe(409);
    expect(String(refused.body.message)).toContain('ack');
    expect((await adminCall(c.adminUrls[0]!, 'POST', '/v1/gateways/gw-offline/redeliver', alice, {})).status).toBe(404);
  });

  it('unbinds a user or a whole gateway, logging who did what', async () => {
    const gw = await c.gateway(1, 'gw-unbind');
    const [u1, u2, u3] = [await bind(gw), await bind(gw), await bind(gw)];
    const listed = await adminCall(c.adminUrls[0]!, 'GET', '/v1/gateways/gw-unbind/bindings', alice);
    expect(listed.body.users).toEqual([u1, u2, u3].sort());

    const one = await adminCall(c.adminUrls[0]!, 'DELETE', `/v1/users/${u1}/binding`, c.tokens.bob!);
    expect(one.status).toBe(200);
    expect(one.body).toEqual({ externalUserId: u1, gatewayId: 'gw-unbind' });
    expect((await adminCall(c.adminUrls[0]!, 'DELETE', `/v1/users/${u1}/binding`, alice)).status).toBe(404);
    // The gateway may no longer reply to that user.
    await expect(gw.reply(u1!, 'still bound?')).rejects.toThrow(/not bound/);

    const all = await adminCall(c.adminUrls[1]!, 'DELETE', '/v1/gateways/gw-unbind/bindings', alice);
    expect(all.body).toEqual({ gatewayId: 'gw-unbind', users: [u2, u3].sort() });
    expect((await adminCall(c.adminUrls[1]!, 'GET', '/v1/gateways/gw-unbind/bindings', alice)).body.users).toEqual([]);

    // A node's log lines reach the test through its stdout pipe, a moment after the answer.
    const logged = (node: number, admin: string, route: string, extra = ''): Promise<true> =>
      eventually(`${admin}'s ${route} in node ${node}'s log`, () =>
        c.nodes[node]!.logs.some(
          (l) => l.includes('"msg":"admin action"') && l.includes(`"admin":"${admin}"`) && l.includes(route) && l.includes(extra),
        ) || undefined,
      );
    await logged(0, 'bob', 'DELETE /v1/users/:externalUserId/binding', u1!);
    await logged(1, 'alice', 'DELETE /v1/gateways/:gatewayId/bindings');
  });

  it('drains another node over the bus, then itself; gateways get 1012; no token reaches a log', async () => {
    const gw = await c.gateway(1, 'gw-drained');
    const drained = await adminCall(c.adminUrls[0]!, 'POST', '/v1/nodes/node-1/drain', alice, {});
    expect(drained.status).toBe(202);
    expect(drained.body).toEqual({ node: 'node-1', forwarded: true });
    expect((await gw.closed).code).toBe(1012);
    expect((await c.nodes[1]!.waitExit()).code).toBe(0);
    expect(c.nodes[1]!.logs.some((l) => l.includes('drain requested by an operator') && l.includes('"admin":"alice"'))).toBe(true);
    const gone = await eventually('node-1 out of the listing', async () => {
      const res = await adminCall(c.adminUrls[0]!, 'GET', '/v1/nodes', alice);
      const ids = (res.body.nodes as Array<{ nodeId: string }>).map((n) => n.nodeId);
      return ids.includes('node-1') ? undefined : ids;
    }, 30_000);
    expect(gone).toEqual(['node-0']);
    expect((await adminCall(c.adminUrls[0]!, 'POST', '/v1/nodes/node-9/drain', alice, {})).status).toBe(404);

    const self = await adminCli(['drain', 'node-0', '--url', c.adminUrls[0]!], { RELAY_ADMIN_TOKEN: alice });
    expect(self.code).toBe(0);
    expect(JSON.parse(self.stdout)).toEqual({ node: 'node-0', forwarded: false });
    expect((await c.nodes[0]!.waitExit()).code).toBe(0);

    const logs = c.nodes.flatMap((n) => n.logs).join('\n');
    for (const token of Object.values(c.tokens)) expect(logs).not.toContain(token);
    expect(logs).not.toContain(c.corp.relaySecret);
  }, 90_000);
});
