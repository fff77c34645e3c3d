import { randomBytes } from 'node:crypto';
import { parseEnv } from 'node:util';
import { expect } from 'vitest';
import { GatewayClient } from '@wecom-relay/gateway-client';
import type { FakeWecomHandle, TestCorp } from '@wecom-relay/testkit';
import { createDeployedDatabase } from '../../../packages/relay-node/test/support/deployed-database.js';
import { isBindingResolvedFor } from './binding-steps.js';
import { eventually } from './eventually.js';

/** A deployed relay's shared secret: shorter than this relay's 16-character minimum, as the deployed one allowed. */
export const DEPLOYED_SECRET = `dep-${randomBytes(4).toString('hex')}`;

/** The gateways and users the deployed relay had: two bound users, and tokens issued to a third gateway. */
export const DEPLOYED = {
  gateways: { a: 'gw-desk-a', b: 'gw-desk-b', c: 'gw-desk-c' },
  users: { alice: 'wmAliceDeployed0001', bob: 'wmBobDeployed00002' },
  /** Two live tokens of gw-desk-c (one typed before a restart, one after) and one that expired. */
  tokens: { before: 'c0ffee01', after: 'c0ffee02', expired: 'deadbeef' },
} as const;

/**
 * The deployed relay's `.env` as an operator has it (every variable of its .env.example, with real-looking values),
 * plus the one line the migration guide adds.
 */
export function deployedDotEnv(corp: TestCorp, o: { port: number; wsPort: number; databasePath: string }): string {
  return [
    '# WeCom (WeChat Work) credentials',
    `WECOM_CORPID=${corp.corpId}`,
    `WECOM_APP_SECRET=${corp.secret}`,
    `WECOM_TOKEN=${corp.token}`,
    `WECOM_ENCODING_AES_KEY=${corp.encodingAesKey}`,
    `WECOM_OPEN_KFID=${corp.openKfid}`,
    `WECOM_KF_LINK_ID=kfc${randomBytes(9).toString('hex')}`,
    '',
    '# Server ports',
    `PORT=${o.port}`,
    `WS_PORT=${o.wsPort}`,
    '',
    '# Shared secret for gateway WebSocket authentication',
    `RELAY_AUTH_SECRET=${DEPLOYED_SECRET}`,
    '',
    '# SQLite database path',
    `DATABASE_PATH=${o.databasePath}`,
    '',
    '# added for the migration: deployed gateways send the secret itself',
    'RELAY_LEGACY_SHARED_SECRET_AUTH=true',
    '',
  ].join('\n');
}

/** The node environment for a deployed `.env`: its variables, plus where the fake WeCom is and a loopback HOST. */
export function envFromDotEnv(text: string, fakeUrl: string): Record<string, string> {
  return { ...(parseEnv(text) as Record<string, string>), WECOM_API_BASE: fakeUrl, HOST: '127.0.0.1' };
}

/** What the deployed relay had already pulled (must never be delivered again) and where it stopped. */
export interface DeployedHistory {
  cursor: string;
  /** msgids the deployed relay delivered, behind the cursor. */
  behindCursor: string[];
}

/**
 * Plays the deployed relay's past on the fake WeCom: the bound users wrote, and the deployed relay pulled it all
 * with kf/sync_msg, ending at the cursor it stored. The cursor is the fake's own, so it is valid for it.
 */
export async function playDeployedHistory(fake: FakeWecomHandle, corp: TestCorp): Promise<DeployedHistory> {
  const behindCursor: string[] = [];
  for (const user of [DEPLOYED.users.alice, DEPLOYED.users.bob, DEPLOYED.users.alice]) {
    const sent = await fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: `old message of ${user}`, deliver: false });
    behindCursor.push(sent.msgid);
  }
  const tokenRes = await fetch(`${fake.url}/cgi-bin/gettoken?corpid=${corp.corpId}&corpsecret=${encodeURIComponent(corp.secret)}`);
  const { access_token: accessToken } = (await tokenRes.json()) as { access_token: string };
  let cursor = '';
  for (;;) {
    const res = await fetch(`${fake.url}/cgi-bin/kf/sync_msg?access_token=${accessToken}`, {
      method: 'POST',
      body: JSON.stringify({ open_kfid: corp.openKfid, cursor, limit: 1000 }),
    });
    const page = (await res.json()) as { errcode: number; next_cursor: string; has_more: number };
    expect(page.errcode).toBe(0);
    cursor = page.next_cursor;
    if (page.has_more !== 1) break;
  }
  return { cursor, behindCursor };
}

/** Writes the deployed relay's state file (its DDL, byte for byte) holding its bindings, tokens and cursor. */
export function writeDeployedDatabase(path: string, history: DeployedHistory): void {
  createDeployedDatabase(path, {
    bindings: [
      [DEPLOYED.users.alice, DEPLOYED.gateways.a],
      [DEPLOYED.users.bob, DEPLOYED.gateways.b],
    ],
    pending: [
      { token: DEPLOYED.tokens.before, gatewayId: DEPLOYED.gateways.c },
      { token: DEPLOYED.tokens.after, gatewayId: DEPLOYED.gateways.c },
      { token: DEPLOYED.tokens.expired, gatewayId: DEPLOYED.gateways.c, minutesLeft: -1 },
    ],
    cursor: history.cursor,
  });
}

/** A deployed gateway: plain dialect, the shared secret itself as auth_token. */
export async function deployedGateway(wsUrl: string, gatewayId: string): Promise<GatewayClient> {
  const client = new GatewayClient({ url: wsUrl, gatewayId, authToken: DEPLOYED_SECRET, dialect: 'plain', timeoutMs: 20_000 });
  await client.connect();
  return client;
}

/** The three deployed gateways, connected. */
export async function connectDeployedGateways(wsUrl: string): Promise<{ a: GatewayClient; b: GatewayClient; c: GatewayClient }> {
  return {
    a: await deployedGateway(wsUrl, DEPLOYED.gateways.a),
    b: await deployedGateway(wsUrl, DEPLOYED.gateways.b),
    c: await deployedGateway(wsUrl, DEPLOYED.gateways.c),
  };
}

/** One round of what a user of the deployed relay relies on, checked through real gateways and the fake WeCom. */
export interface DropinRound {
  fake: FakeWecomHandle;
  gateways: { a: GatewayClient; b: GatewayClient; c: GatewayClient };
  /** Messages that must not reach any gateway (again): behind the cursor, or already delivered. */
  neverAgain: string[];
  /** Messages written while no relay was running; they must arrive. */
  waiting: Array<{ msgid: string; gateway: 'a' | 'b' }>;
  /** The deployed token a new user types this round. */
  typedToken: string;
  /** Suffix that keeps this round's new users apart from the previous round's. */
  round: string;
}

/**
 * Bound users reach their gateways (what waited, and a new message), nothing behind the cursor arrives, a deployed
 * pending token binds by typing, a new scan binds through a link WeCom issued, and replies reach WeCom.
 * Resolves to the msgids delivered this round (so a later round can check they are not delivered again).
 */
export async function checkDropinRound(r: DropinRound): Promise<string[]> {
  const { fake, gateways: gw } = r;
  const delivered: string[] = [];
  for (const w of r.waiting) {
    await gw[w.gateway].waitForInbound((m) => m.id === w.msgid, 30_000);
    delivered.push(w.msgid);
  }
  const fresh = await fake.control.customerMessage({ external_userid: DEPLOYED.users.alice, msgtype: 'text', content: `new ${r.round}` });
  await gw.a.waitForInbound((m) => m.id === fresh.msgid, 30_000);
  const bobs = await fake.control.customerMessage({ external_userid: DEPLOYED.users.bob, msgtype: 'text', content: `new ${r.round}` });
  await gw.b.waitForInbound((m) => m.id === bobs.msgid, 30_000);
  delivered.push(fresh.msgid, bobs.msgid);

  // The queue is in WeCom's order: anything pulled from behind the cursor would have arrived before these.
  const seen = [...gw.a.inbound(), ...gw.b.inbound(), ...gw.c.inbound()].map((m) => m.id);
  expect(seen.filter((id) => r.neverAgain.includes(id))).toEqual([]);

  const typist = `wmTypist${r.round}`;
  await fake.control.customerMessage({ external_userid: typist, msgtype: 'text', content: r.typedToken });
  await gw.c.waitFor(isBindingResolvedFor(typist), 30_000);
  const typed = await fake.control.customerMessage({ external_userid: typist, msgtype: 'text', content: 'bound by typing' });
  await gw.c.waitForInbound((m) => m.id === typed.msgid, 30_000);

  const expired = `wmLate${r.round}`;
  const tooLate = await fake.control.customerMessage({ external_userid: expired, msgtype: 'text', content: DEPLOYED.tokens.expired });

  const offer = await gw.c.createBinding();
  expect(offer.customerServiceUrl).toContain(`scene_param=${offer.token}`);
  const scanner = `wmScanner${r.round}`;
  // The fake refuses (CONTROL_SCAN_REFUSED) any link kf/add_contact_way did not issue, as WeCom ignores it.
  const scan = await fake.control.scan({ external_userid: scanner, url: offer.customerServiceUrl });
  expect(scan.scene_param).toBe(offer.token);
  await gw.c.waitFor(isBindingResolvedFor(scanner), 30_000);
  const scanned = await fake.control.customerMessage({ external_userid: scanner, msgtype: 'text', content: 'bound by scan' });
  await gw.c.waitForInbound((m) => m.id === scanned.msgid, 30_000);
  delivered.push(typed.msgid, scanned.msgid);
  // The expired token bound nobody: that user's text went nowhere (it was pulled before the scan's messages).
  expect(gw.c.resolvedBindings()).not.toContain(expired);
  expect(gw.c.inbound().map((m) => m.id)).not.toContain(tooLate.msgid);

  await gw.a.reply(DEPLOYED.users.alice, `reply ${r.round} from a`);
  await gw.c.reply(scanner, `reply ${r.round} from c`);
  await eventually(async () => {
    const toAlice = await fake.control.sent({ touser: DEPLOYED.users.alice });
    expect(toAlice.map((m) => m.content)).toContain(`reply ${r.round} from a`);
    const toScanner = await fake.control.sent({ touser: scanner });
    expect(toScanner.map((m) => m.content)).toContain(`reply ${r.round} from c`);
  }, 30_000);
  return delivered;
}

/** Customers write while no relay is running (no callback reaches anyone); the next pull must bring these. */
export async function writeWhileDown(fake: FakeWecomHandle, round: string): Promise<Array<{ msgid: string; gateway: 'a' | 'b' }>> {
  const a = await fake.control.customerMessage({ external_userid: DEPLOYED.users.alice, msgtype: 'text', content: `while down ${round}`, deliver: false });
  const b = await fake.control.customerMessage({ external_userid: DEPLOYED.users.bob, msgtype: 'text', content: `while down ${round}`, deliver: false });
  return [
    { msgid: a.msgid, gateway: 'a' },
    { msgid: b.msgid, gateway: 'b' },
  ];
}
