import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));
const requireHere = createRequire(join(PACKAGE_DIR, 'package.json'));
const work = mkdtempSync(join(tmpdir(), 'gw-sdk-pack-'));

function run(cmd: string, args: string[], cwd: string): string {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
}

interface PackResult {
  filename: string;
  files: Array<{ path: string }>;
}

let pack: PackResult;
let installDir: string;

// The build runs here, so `pnpm test` on a clean checkout tests what it builds.
beforeAll(() => {
  run(process.execPath, ['build.mjs'], PACKAGE_DIR);
  const json = run('npm', ['pack', '--json', '--pack-destination', work, '--ignore-scripts', '--offline'], PACKAGE_DIR);
  pack = (JSON.parse(json) as PackResult[])[0]!;
  installDir = join(work, 'app');
  mkdirSync(installDir);
  writeFileSync(join(installDir, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
  run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', join(work, pack.filename)], installDir);
}, 180_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('the published package', () => {
  it('contains dist, README, LICENSE and package.json, and no sources or tests', () => {
    const paths = pack.files.map((f) => f.path).sort();
    expect(paths).toContain('package.json');
    expect(paths).toContain('README.md');
    expect(paths).toContain('LICENSE');
    expect(paths).toContain('dist/esm/index.js');
    expect(paths).toContain('dist/esm/index.d.ts');
    expect(paths).toContain('dist/cjs/index.js');
    expect(paths).toContain('dist/esm/node-file-store.js');
    expect(paths.filter((p) => !/^(dist\/|README\.md$|LICENSE$|package\.json$)/.test(p))).toEqual([]);
    expect(paths.filter((p) => p.startsWith('src/') || p.startsWith('test/'))).toEqual([]);
  });

  it('installs from its tarball with no dependencies and imports from plain Node ESM and CommonJS', () => {
    expect(readdirSync(join(installDir, 'node_modules')).filter((d) => !d.startsWith('.'))).toEqual(['@wecom-relay']);
    const expected = createHmac('sha256', 'secret').update('gw-1').digest('hex');
    const esm = `
      import { RelayGateway, GatewayError, MemoryDeliveryStore, gatewayAuthToken } from '@wecom-relay/gateway';
      import { FileDeliveryStore } from '@wecom-relay/gateway/node-file-store';
      const token = await gatewayAuthToken('secret', 'gw-1');
      console.log(JSON.stringify([typeof RelayGateway, typeof GatewayError, typeof MemoryDeliveryStore, typeof FileDeliveryStore, token]));`;
    writeFileSync(join(installDir, 'check.mjs'), esm);
    expect(JSON.parse(run(process.execPath, ['check.mjs'], installDir))).toEqual(['function', 'function', 'function', 'function', expected]);
    const cjs = `
      const { RelayGateway, gatewayAuthToken } = require('@wecom-relay/gateway');
      const { FileDeliveryStore } = require('@wecom-relay/gateway/node-file-store');
      gatewayAuthToken('secret', 'gw-1').then((token) =>
        console.log(JSON.stringify([typeof RelayGateway, typeof FileDeliveryStore, token])));`;
    writeFileSync(join(installDir, 'check.cjs'), cjs);
    expect(JSON.parse(run(process.execPath, ['check.cjs'], installDir))).toEqual(['function', 'function', expected]);
  });

  it('its types resolve for a TypeScript consumer (NodeNext)', () => {
    writeFileSync(
      join(installDir, 'consumer.mts'),
      `import { RelayGateway, type InboundMessage } from '@wecom-relay/gateway';
       import { FileDeliveryStore } from '@wecom-relay/gateway/node-file-store';
       const g = new RelayGateway({ url: 'ws://x', gatewayId: 'g', authToken: 't', store: new FileDeliveryStore({ directory: '.' }) });
       g.on('inbound', async (m: InboundMessage, d) => { await d.reply(m.content); });
       const n: number = g.duplicatesDropped;
       void n;\n`,
    );
    const tsc = requireHere.resolve('typescript/bin/tsc');
    const out = (() => {
      try {
        return run(process.execPath, [tsc, '--noEmit', '--strict', '--skipLibCheck', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--types', 'node', '--typeRoots', join(dirname(requireHere.resolve('@types/node/package.json')), '..'), 'consumer.mts'], installDir);
      } catch (err) {
        return String((err as { stdout?: string }).stdout ?? err);
      }
    })();
    expect(out).toBe('');
  }, 120_000);

  it('bundles for browsers without any node: import (node-file-store stays out of the main entry)', async () => {
    const tsxDir = dirname(realpathSync(requireHere.resolve('tsx/package.json')));
    // esbuild comes with tsx; only the part of its API used here is typed.
    const esbuild = createRequire(join(tsxDir, 'package.json'))('esbuild') as {
      build(options: Record<string, unknown>): Promise<{ outputFiles: Array<{ text: string }> }>;
    };
    const result = await esbuild.build({
      entryPoints: [join(PACKAGE_DIR, 'dist/esm/index.js')],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      logLevel: 'silent',
    });
    const code = result.outputFiles[0]!.text;
    expect(code).toMatch(/class RelayGateway|RelayGateway = class/);
    expect(code).not.toMatch(/["']node:/);
    expect(code).not.toMatch(/require\(/);
  });
});
