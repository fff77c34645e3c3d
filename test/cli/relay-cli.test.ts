import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEnv, promisify } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatewayAuthToken } from '@wecom-relay/shared';
import { openSqliteDatabase, RedisBindingStore, SqliteBindingStore } from '@wecom-relay/relay-node';
import { REPO_ROOT, TSX_BIN, startRedis, uniquePrefix, type RedisHandle } from '@wecom-relay/testkit';

const run = promisify(execFile);

/** Runs `pnpm relay ...` the way an operator would, and returns what it printed and its exit code. */
async function relayCli(args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await run(TSX_BIN, ['packages/relay-node/src/cli/relay-cli.ts', ...args], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe('operator CLI', () => {
  let redis: RedisHandle;
  let dir: string;
  beforeAll(async () => {
    redis = await startRedis();
    dir = mkdtempSync(join(tmpdir(), 'relay-cli-'));
  }, 60_000);
  afterAll(async () => {
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("prints a gateway's token, the HMAC of its id with RELAY_AUTH_SECRET", async () => {
    const secret = 'cli-test-secret-0123456789';
    const out = await relayCli(['token', 'gateway-42'], { RELAY_AUTH_SECRET: secret });
    expect(out.code).toBe(0);
    expect(out.stdout.trim()).toBe(gatewayAuthToken(secret, 'gateway-42'));
  });

  it('refuses to print a token without a secret, saying what is missing', async () => {
    const out = await relayCli(['token', 'gateway-42']);
    expect(out.code).toBe(78);
    expect(out.stderr).toContain('RELAY_AUTH_SECRET');
  });

  it('moves bindings from a single-node database into Redis and back', async () => {
    const source = join(dir, 'deployed.db');
    const db = openSqliteDatabase(source);
    const sqlite = new SqliteBindingStore(db);
    for (let i = 0; i < 25; i++) await sqlite.bind(`wm-user-${i}`, `gw-${i % 4}`);
    db.close();

    // A prefix of its own, so a shared Redis (REDIS_URL) holds nothing else under it.
    const env = { REDIS_KEY_PREFIX: uniquePrefix('cli') };
    const toRedis = await relayCli(['bindings', 'copy', `sqlite:${source}`, redis.url], env);
    expect(toRedis.code).toBe(0);
    expect(toRedis.stdout).toContain('copied 25 bindings');
    const client = new Redis(redis.url);
    const inRedis = new RedisBindingStore({ redis: client, prefix: env.REDIS_KEY_PREFIX });
    expect(await inRedis.gatewayFor('wm-user-7')).toBe('gw-3');
    expect((await inRedis.usersOf('gw-0')).sort()).toEqual(['wm-user-0', 'wm-user-12', 'wm-user-16', 'wm-user-20', 'wm-user-24', 'wm-user-4', 'wm-user-8'].sort());
    await client.quit();

    const back = join(dir, 'exported.db');
    expect((await relayCli(['bindings', 'copy', redis.url, `sqlite:${back}`], env)).code).toBe(0);
    const listed = await relayCli(['bindings', 'list', `sqlite:${back}`]);
    const lines = listed.stdout.trim().split('\n').sort();
    expect(lines).toHaveLength(25);
    expect(lines).toContain('wm-user-7\tgw-3');
  }, 60_000);

  it('explains its usage for an unknown command', async () => {
    const out = await relayCli(['frobnicate']);
    expect(out.code).toBe(64);
    expect(out.stderr).toContain('usage: pnpm relay');
  });

  it('lists its commands on --help and exits 0', async () => {
    for (const flag of ['--help', '-h', 'help']) {
      const out = await relayCli([flag]);
      expect(out.code).toBe(0);
      for (const command of ['token <gateway_id>', 'bindings copy', 'bindings list']) expect(out.stdout).toContain(command);
    }
  }, 60_000);

  it("refuses to start a node with .env.example's placeholder secret against a WeCom that is not local", async () => {
    const example = parseEnv(readFileSync(join(REPO_ROOT, '.env.example'), 'utf8'));
    const env = { ...example, WECOM_API_BASE: 'http://192.0.2.1:9', DATABASE_PATH: join(dir, 'never.db') } as Record<string, string>;
    const out = await runScript('packages/relay-node/src/main.ts', env);
    expect(out.code).toBe(78);
    expect(out.stderr).toContain('RELAY_AUTH_SECRET: is the placeholder from .env.example');
    expect(out.stderr).not.toContain(example.WECOM_APP_SECRET!);
  }, 60_000);
});

/** Runs a TypeScript entry point with only the given environment, from an empty directory (no .env). */
async function runScript(script: string, env: Record<string, string>) {
  const cwd = mkdtempSync(join(tmpdir(), 'relay-start-'));
  try {
    const { stdout, stderr } = await run(TSX_BIN, [join(REPO_ROOT, script)], {
      cwd,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
      timeout: 30_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
}
