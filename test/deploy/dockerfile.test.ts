import { createHmac } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RELAY_NODE_FLAGS, REPO_ROOT, repoPath, reserveRelayPorts, testCorp } from '@wecom-relay/testkit';
import { execForm, instructionArgs, parseDockerfile, stageEnv, stageWorkdir } from './support/dockerfile.js';
import { IMAGE_APP_ROOT, ImageCommand, hostPath, runImageCommand } from './support/image-command.js';
import { findLayoutStep, runLayoutStep, treeBytes, virtualStorePackages } from './support/runtime-layout.js';

// No Docker engine exists where these tests run, so the image is never built here. What can be checked offline:
// the Dockerfile's structure, and the runtime tree assembled with the Dockerfile's own layout commands (build,
// `pnpm deploy --prod`, prune) into a temporary directory, started the way its ENTRYPOINT/CMD start it.

const DOCKERFILE = repoPath('deploy/docker/Dockerfile');
const stages = parseDockerfile(readFileSync(DOCKERFILE, 'utf8'));
const build = stages[0]!;
const runtime = stages[stages.length - 1]!;
const runtimeEnv = stageEnv(runtime);
const workdir = stageWorkdir(runtime);
const entrypoint = execForm(instructionArgs(runtime, 'ENTRYPOINT')[0] ?? 'null');
const cmd = execForm(instructionArgs(runtime, 'CMD')[0] ?? '[]');
const healthcheck = instructionArgs(runtime, 'HEALTHCHECK')[0] ?? '';
const healthcheckArgv = execForm(healthcheck.slice(healthcheck.indexOf('CMD ') + 4));
const layout = findLayoutStep(build);
const relayPackage = JSON.parse(readFileSync(repoPath('packages/relay-node/package.json'), 'utf8')) as {
  name: string;
  dependencies: Record<string, string>;
};

/** The init the ENTRYPOINT starts first; on the host the command after `--` runs directly (tini only forwards). */
const INIT = ['/usr/bin/tini', '--'];
const nodeArgv = entrypoint.slice(INIT.length);

/** Packages only tests, builds or development use: none may reach the image. */
const DEV_ONLY = [
  'testcontainers',
  'dockerode',
  'docker-modem',
  'ssh2',
  'vitest',
  'vite',
  'tsx',
  'esbuild',
  'typescript',
  'kubernetes-models',
  'yaml',
  '@types/node',
  '@wecom-relay/testkit',
  '@wecom-relay/shared',
];

function runs(stage: typeof build): string {
  return instructionArgs(stage, 'RUN').join('\n');
}

describe('Dockerfile structure', () => {
  it('builds in one stage and runs from another, both on the current Node LTS (24) slim image', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of [build, runtime]) expect(stage.from).toMatch(/^node:24[\w.]*(-\w+)?-slim$/);
    expect(runtime.instructions.some((i) => i.keyword === 'COPY' && i.args.includes(`--from=${build.alias}`))).toBe(true);
  });

  it('compiles better-sqlite3 and the sources in the build stage: toolchain, Node headers, the pinned pnpm, a frozen lockfile', () => {
    const ciPnpm = /pnpm@(\d+\.\d+\.\d+)/.exec(readFileSync(repoPath('.ci/run'), 'utf8'))?.[1];
    expect(runs(build)).toMatch(/apt-get install .*\bpython3\b/);
    expect(runs(build)).toMatch(/\bmake\b/);
    expect(runs(build)).toMatch(/\bg\+\+/);
    expect(stageEnv(build).npm_config_nodedir).toBeTruthy();
    expect(runs(build)).toContain(`npm install -g pnpm@${ciPnpm ?? 'unknown'}`);
    expect(runs(build)).toMatch(/pnpm install --frozen-lockfile\b/);
    expect(stageWorkdir(build)).toBe(IMAGE_APP_ROOT);
    expect(instructionArgs(build, 'COPY')).toContain('. .');
    expect(layout.command).toMatch(/\bpnpm build\b/);
    expect(layout.command).toContain(`--filter ${relayPackage.name} deploy --prod`);
  });

  it('copies only the deployed relay package into the runtime stage, at its working directory', () => {
    const copies = instructionArgs(runtime, 'COPY').filter((a) => a.includes(`--from=${build.alias}`));
    const tree = copies.find((a) => a.includes(` ${layout.targetDir} `) || a.includes(` ${layout.targetDir}/ `));
    expect(tree, copies.join('\n')).toBeDefined();
    expect(tree!.trim().split(/\s+/).at(-1)).toMatch(/^(\.\/?|\/app\/?)$/);
    expect(workdir).toBe(IMAGE_APP_ROOT);
    // Nothing of the repository beyond the deployed tree and the init.
    expect(copies.filter((a) => a !== tree)).toEqual([`--from=${build.alias} ${INIT[0]} ${INIT[0]}`]);
  });

  it('leaves compilers and package managers out of the runtime stage', () => {
    expect(runs(runtime)).not.toMatch(/apt-get install|g\+\+|python3|\bmake\b|pnpm|npm install/);
  });

  it('runs as a non-root user in production mode', () => {
    const user = instructionArgs(runtime, 'USER').at(-1) ?? 'root';
    expect(user).not.toMatch(/^(root|0)(:|$)/);
    expect(runtimeEnv.NODE_ENV).toBe('production');
  });

  it('carries the OCI labels', () => {
    const labels = instructionArgs(runtime, 'LABEL').join(' ');
    for (const key of ['title', 'description', 'version', 'revision']) {
      expect(labels).toContain(`org.opencontainers.image.${key}=`);
    }
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

  it('starts tini, then node itself on the compiled output: SIGTERM reaches the relay, not a package manager, shell or tsx', () => {
    expect(entrypoint.slice(0, INIT.length)).toEqual(INIT);
    expect(nodeArgv[0]).toBe('node');
    const argv = [...nodeArgv, ...cmd];
    const wrappers = argv.filter((a) => /(^|\/)(pnpm|npm|npx|sh|bash|dash|tsx)$|tsx|\.ts$/.test(a));
    expect(wrappers).toEqual([]);
    expect(cmd).toEqual(['dist/main.js']);
  });

  it('runs node with the flags tests and benchmarks start compiled nodes with, as `pnpm start` does', () => {
    expect(nodeArgv.slice(1)).toEqual(RELAY_NODE_FLAGS);
    const start = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts['start'];
    expect(start).toContain(`node ${RELAY_NODE_FLAGS.join(' ')} packages/relay-node/dist/main.js`);
  });
});

describe('the runtime tree, assembled with the Dockerfile’s own commands and run with plain node', () => {
  const deployDir = mkdtempSync(join(tmpdir(), 'deploy-image-tree-'));
  const dataDir = mkdtempSync(join(tmpdir(), 'deploy-image-data-'));
  const running: ImageCommand[] = [];
  let cwd = '';

  beforeAll(() => {
    // pnpm deploy wants an empty or absent target.
    rmSync(deployDir, { recursive: true, force: true });
    runLayoutStep(layout, deployDir);
    cwd = hostPath(workdir, deployDir);
    const bytes = treeBytes(deployDir);
    process.stdout.write(`[deploy] runtime tree: ${(bytes / 1024 / 1024).toFixed(1)} MiB in ${deployDir}\n`);
  }, 240_000);

  afterAll(() => {
    for (const command of running) command.signal('SIGKILL');
    rmSync(deployDir, { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('holds the compiled output and exactly the relay package’s production dependencies, none of the test-only packages', () => {
    expect(existsSync(join(cwd, cmd[0]!))).toBe(true);
    expect(existsSync(join(cwd, 'src'))).toBe(false);
    const topLevel = readdirSync(join(cwd, 'node_modules')).filter((n) => !n.startsWith('.'));
    const expanded = topLevel.flatMap((n) => (n.startsWith('@') ? readdirSync(join(cwd, 'node_modules', n)).map((s) => `${n}/${s}`) : [n]));
    expect(expanded.sort()).toEqual(Object.keys(relayPackage.dependencies).sort());
    const installed = virtualStorePackages(join(cwd, 'node_modules'));
    expect(installed.length).toBeGreaterThan(topLevel.length);
    expect(installed.filter((p) => DEV_ONLY.includes(p))).toEqual([]);
    // The compiled native addon is kept, its sources and objects are pruned.
    const sqlite = join(cwd, 'node_modules', 'better-sqlite3');
    expect(readdirSync(join(sqlite, 'build', 'Release'))).toEqual(['better_sqlite3.node']);
    expect(existsSync(join(sqlite, 'deps'))).toBe(false);
  });

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

    const node = new ImageCommand([...nodeArgv, ...cmd], {
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
    const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${node.pid}/status`, 'utf8'))?.[1];
    process.stdout.write(`[deploy] started node: RSS ${rss ? (Number(rss) / 1024).toFixed(1) : '?'} MiB\n`);
    expect((await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).status).toBe(200);

    node.signal('SIGTERM');
    // Exit code 0 (not death by signal) shows the relay itself received SIGTERM and shut down in order.
    expect(await node.waitExit(), node.output).toEqual({ code: 0, signal: null });
    expect(node.output).toContain('draining');
  });

  it('runs the operator CLI the same way: `IMAGE dist/relay-cli.js token GATEWAY_ID`', { timeout: 30_000 }, async () => {
    const secret = testCorp().relaySecret;
    const result = await runImageCommand([...nodeArgv, 'dist/relay-cli.js', 'token', 'gw-deploy'], {
      cwd,
      env: { ...runtimeEnv, RELAY_AUTH_SECRET: secret },
    });
    expect(result.code, result.output).toBe(0);
    expect(result.output.trim()).toBe(createHmac('sha256', secret).update('gw-deploy').digest('hex'));
  });
});
