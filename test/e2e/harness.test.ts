import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  ManagedProcess,
  ProcessStartError,
  childEnv,
  repoPath,
  relayEnvFor,
  reserveRelayPorts,
  spawnFakeWecom,
  spawnRelayNode,
  testCorp,
} from '@wecom-relay/testkit';
import { eventually } from './support/eventually.js';

/**
 * Whether any process of the group led by `pid` is still running. Zombies do not count: a grandchild whose parent
 * was killed with it stays a zombie until PID 1 reaps it, but it is already dead.
 */
function groupAlive(pid: number): boolean {
  return runningInGroup(pid) > 0;
}

/** How many non-zombie processes belong to the group led by `pid`. */
function runningInGroup(pid: number): number {
  const table = execFileSync('ps', ['-eo', 'pgid=,stat='], { encoding: 'utf8' });
  return table
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter(([pgid, stat]) => Number(pgid) === pid && stat !== undefined && !stat.startsWith('Z')).length;
}

describe('testCorp', () => {
  it('makes credentials the WeCom formats accept, fresh per call', () => {
    const a = testCorp();
    const b = testCorp();
    expect(a.encodingAesKey).toMatch(/^[a-zA-Z0-9]{43}$/);
    expect(Buffer.from(`${a.encodingAesKey}=`, 'base64')).toHaveLength(32);
    expect(a.relaySecret.length).toBeGreaterThanOrEqual(16);
    expect(a.corpId).not.toBe(b.corpId);
    expect(testCorp({ token: 'fixed' }).token).toBe('fixed');
  });
});

describe('spawnFakeWecom', () => {
  it('starts the fake with the given credentials and callback URLs, and stops the whole process group', async () => {
    const corp = testCorp();
    const fake = await spawnFakeWecom({ corp, callbackUrls: ['http://127.0.0.1:9/webhook'] });
    try {
      expect(fake.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const info = await fake.control.info();
      expect(info).toMatchObject({ corp_id: corp.corpId, open_kfid: corp.openKfid, callback_urls: ['http://127.0.0.1:9/webhook'] });

      const appended = await fake.control.customerMessage({ external_userid: 'wm-harness', msgtype: 'text', content: 'hi', deliver: false });
      expect((await fake.control.messages()).map((m) => m.msgid)).toContain(appended.msgid);

      // gettoken with the corp's secret works, so a relay given the same corp can talk to it.
      const res = await fetch(`${fake.url}/cgi-bin/gettoken?corpid=${corp.corpId}&corpsecret=${corp.secret}`);
      expect(await res.json()).toMatchObject({ errcode: 0 });
    } finally {
      // A generous grace: on a loaded machine tsx and the fake can take seconds to wind down, and a SIGKILL after the
      // default 5 s would read as an unclean stop.
      const exit = await fake.stop(30_000);
      expect(exit.signal === 'SIGTERM' || exit.code === 0).toBe(true);
    }
    expect(groupAlive(fake.pid)).toBe(false);
  });

  it('kill() takes down tsx and the node process it started', async () => {
    const fake = await spawnFakeWecom({ corp: testCorp() });
    // tsx itself and the node process running the fake.
    expect(runningInGroup(fake.pid)).toBeGreaterThanOrEqual(2);
    fake.kill('SIGKILL');
    await fake.process.waitExit();
    expect(groupAlive(fake.pid)).toBe(false);
    await expect(fetch(`${fake.url}/control/info`)).rejects.toThrow();
  });
});

describe('a test process that dies without stopping its services', () => {
  it('takes them down with it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'harness-'));
    const script = join(dir, 'spawner.mts');
    const testkit = pathToFileURL(repoPath('packages/testkit/src/process/index.ts')).href;
    writeFileSync(
      script,
      `import { spawnFakeWecom, testCorp } from ${JSON.stringify(testkit)};\n` +
        `const fake = await spawnFakeWecom({ corp: testCorp() });\n` +
        `process.stdout.write(JSON.stringify({ fakePid: fake.pid }) + '\\n');\n` +
        `setInterval(() => undefined, 1000);\n`,
    );
    const spawner = new ManagedProcess({ name: 'spawner', script, env: childEnv({}) });
    try {
      const line = await spawner.waitForLine((l) => l.includes('fakePid'), 60_000);
      const { fakePid } = JSON.parse(line) as { fakePid: number };
      expect(groupAlive(fakePid)).toBe(true);

      spawner.kill('SIGKILL');
      await spawner.waitExit();

      await eventually(() => expect(groupAlive(fakePid)).toBe(false), 10_000);
    } finally {
      await spawner.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('spawnRelayNode', () => {
  it('reports a node that dies at startup with its output and cleans up its data directory', async () => {
    const corp = testCorp();
    // RELAY_AUTH_SECRET shorter than the minimum: the node must refuse to start.
    const err = await spawnRelayNode(relayEnvFor(corp, 'http://127.0.0.1:9', { RELAY_AUTH_SECRET: 'short' }), {
      readyTimeoutMs: 60_000,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProcessStartError);
    expect((err as ProcessStartError).code).toBe('PROCESS_EXITED');
    expect((err as ProcessStartError).tail).toContain('RELAY_AUTH_SECRET');
  });

  it('starts a node against the fake, waits for /readyz, collects its logs and stops it without orphans', async () => {
    const corp = testCorp();
    const ports = await reserveRelayPorts();
    const fake = await spawnFakeWecom({ corp, callbackUrls: [ports.webhookUrl] });
    try {
      const relay = await spawnRelayNode(
        relayEnvFor(corp, fake.url, { PORT: String(ports.port), WS_PORT: String(ports.wsPort) }),
      );
      expect(relay.httpUrl).toBe(`http://127.0.0.1:${ports.port}`);
      expect(relay.wsUrl).toBe(`ws://127.0.0.1:${ports.wsPort}`);
      expect((await fetch(`${relay.httpUrl}/readyz`)).status).toBe(200);
      expect(await relay.process.waitForLine((line) => line.startsWith('{'), 10_000)).toContain('"node"');
      const dataDir = dirname(relay.env.DATABASE_PATH ?? '');
      expect(existsSync(dataDir)).toBe(true);

      await relay.stop();
      expect(groupAlive(relay.pid)).toBe(false);
      expect(existsSync(dataDir)).toBe(false);
    } finally {
      await fake.stop();
    }
  });
});
