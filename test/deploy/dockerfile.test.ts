import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { repoPath, reserveRelayPorts, testCorp } from '@wecom-relay/testkit';
import { execForm, instructionArgs, parseDockerfile, stageEnv, stageWorkdir } from './support/dockerfile.js';
import { IMAGE_APP_ROOT, ImageCommand, hostPath, runImageCommand } from './support/image-command.js';

// No Docker engine exists where these tests run, so the image is never built here. What can be checked offline:
// the Dockerfile's structure, and that the exact commands it runs work on this checkout with tsx as installed.

const DOCKERFILE = repoPath('deploy/docker/Dockerfile');
const stages = parseDockerfile(readFileSync(DOCKERFILE, 'utf8'));
const build = stages[0]!;
const runtime = stages[stages.length - 1]!;
const runtimeEnv = stageEnv(runtime);
const workdir = stageWorkdir(runtime);
const argv = [...execForm(instructionArgs(runtime, 'ENTRYPOINT')[0] ?? 'null'), ...execForm(instructionArgs(runtime, 'CMD')[0] ?? '[]')];
const healthcheck = instructionArgs(runtime, 'HEALTHCHECK')[0] ?? '';
const healthcheckArgv = execForm(healthcheck.slice(healthcheck.indexOf('CMD ') + 4));

function runs(stage: typeof build): string {
  return instructionArgs(stage, 'RUN').join('\n');
}

describe('Dockerfile structure', () => {
  it('builds in one stage and runs from another, both on Node 20 slim (bookworm)', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of [build, runtime]) expect(stage.from).toMatch(/^node:20[\w.]*-bookworm-slim$/);
    expect(runtime.instructions.some((i) => i.keyword === 'COPY' && i.args.includes(`--from=${build.alias}`))).toBe(true);
  });

  it('compiles better-sqlite3 in the build stage: toolchain, Node headers, the pinned pnpm, a frozen lockfile', () => {
    const ciPnpm = /pnpm@(\d+\.\d+\.\d+)/.exec(readFileSync(repoPath('.ci/run'), 'utf8'))?.[1];
    expect(runs(build)).toMatch(/apt-get install .*\bpython3\b/);
    expect(runs(build)).toMatch(/\bmake\b/);
    expect(runs(build)).toMatch(/\bg\+\+/);
    expect(stageEnv(build).npm_config_nodedir).toBeTruthy();
    expect(runs(build)).toContain(`npm install -g pnpm@${ciPnpm ?? 'unknown'}`);
    expect(runs(build)).toMatch(/pnpm install --frozen-lockfile\b/);
    // The copied workspace must be the one the frozen install ran in.
    expect(stageWorkdir(build)).toBe(IMAGE_APP_ROOT);
    expect(instructionArgs(build, 'COPY')).toContain('. .');
  });

  it('leaves compilers out of the runtime stage', () => {
    expect(runs(runtime)).not.toMatch(/apt-get install|g\+\+|python3|\bmake\b/);
  });

  it('runs as a non-root user in production mode', () => {
    const user = instructionArgs(runtime, 'USER').at(-1) ?? 'root';
    expect(user).not.toMatch(/^(root|0)(:|$)/);
    expect(runtimeEnv.NODE_ENV).toBe('production');
  });

  it('exposes its three ports (webhook, WebSocket, metrics), stops with SIGTERM and health-checks /healthz', () => {
    const exposed = instructionArgs(runtime, 'EXPOSE').flatMap((a) => a.split(/\s+/)).map((p) => Number(p.split('/')[0]));
    expect(exposed).toEqual(
      expect.arrayContaining([Number(runtimeEnv.PORT), Number(runtimeEnv.WS_PORT), Number(runtimeEnv.METRICS_PORT)]),
    );
    expect(new Set([runtimeEnv.PORT, runtimeEnv.WS_PORT, runtimeEnv.METRICS_PORT]).size).toBe(3);
    expect(instructionArgs(runtime, 'STOPSIGNAL')).toEqual(['SIGTERM']);
    expect(healthcheckArgv.join(' ')).toContain('/healthz');
  });

  it('starts node itself, so SIGTERM reaches the relay rather than a package manager or a shell', () => {
    expect(argv[0]).toBe('node');
    const wrappers = argv.filter((a) => /(^|\/)(pnpm|npm|npx|sh|bash|dash)$|\.bin\/tsx$|tsx\/dist\/cli/.test(a));
    expect(wrappers).toEqual([]);
    expect(argv.at(-1)).toBe('src/main.ts');
  });
});

describe('the image command, run on this checkout', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'deploy-image-'));
  const running: ImageCommand[] = [];
  afterAll(() => {
    for (const command of running) command.signal('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  const cwd = hostPath(workdir);

  async function healthcheckExit(port: number): Promise<number | null> {
    const result = await runImageCommand(healthcheckArgv, { cwd, env: { PORT: String(port) }, timeoutMs: 10_000 });
    return result.code;
  }

  it('serves /healthz and /readyz, passes its HEALTHCHECK, and exits 0 after draining on SIGTERM', { timeout: 60_000 }, async () => {
    const corp = testCorp();
    const ports = await reserveRelayPorts();
    const unreachableWecom = (await reserveRelayPorts()).port;
    // Not the image's fixed METRICS_PORT: other test runs on this machine may hold it.
    const metricsPort = (await reserveRelayPorts()).wsPort;
    // The health check must be able to fail: nothing listens yet.
    expect(await healthcheckExit(ports.port)).toBe(1);

    const node = new ImageCommand(argv, {
      cwd,
      env: {
        ...runtimeEnv,
        HOST: '127.0.0.1',
        PORT: String(ports.port),
        WS_PORT: String(ports.wsPort),
        METRICS_PORT: String(metricsPort),
        DATABASE_PATH: join(dataDir, 'relay.db'),
        WECOM_CORPID: corp.corpId,
        WECOM_APP_SECRET: corp.secret,
        WECOM_TOKEN: corp.token,
        WECOM_ENCODING_AES_KEY: corp.encodingAesKey,
        WECOM_OPEN_KFID: corp.openKfid,
        WECOM_API_BASE: `http://127.0.0.1:${unreachableWecom}`,
        RELAY_AUTH_SECRET: corp.relaySecret,
        SYNC_POLL_INTERVAL_MS: '600000',
      },
    });
    running.push(node);

    let ready = false;
    for (let attempt = 0; attempt < 200 && !ready; attempt += 1) {
      const res = await fetch(`http://127.0.0.1:${ports.port}/readyz`).catch(() => undefined);
      ready = res?.status === 200;
      if (!ready) await sleep(150);
    }
    expect(ready, `the node never became ready:\n${node.output}`).toBe(true);
    expect((await fetch(`http://127.0.0.1:${ports.port}/healthz`)).status).toBe(200);
    expect(await healthcheckExit(ports.port)).toBe(0);
    expect((await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).status).toBe(200);

    node.signal('SIGTERM');
    // Exit code 0 (not death by signal) shows the relay itself received SIGTERM and shut down in order.
    expect(await node.waitExit(), node.output).toEqual({ code: 0, signal: null });
  });

  it('runs the operator CLI the same way: `IMAGE src/cli/relay-cli.ts token GATEWAY_ID`', { timeout: 30_000 }, async () => {
    const secret = testCorp().relaySecret;
    const result = await runImageCommand([...argv.slice(0, -1), 'src/cli/relay-cli.ts', 'token', 'gw-deploy'], {
      cwd,
      env: { ...runtimeEnv, RELAY_AUTH_SECRET: secret },
    });
    expect(result.code, result.output).toBe(0);
    expect(result.output.trim()).toBe(createHmac('sha256', secret).update('gw-deploy').digest('hex'));
  });
});
