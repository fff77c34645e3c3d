/**
 * Bundles the processes the bench starts besides the relay (the Socket.IO peer server, the gateway driver, the fake WeCom host) into
 * plain CommonJS run by `node`, as the relay's own build is: neither side pays for a TypeScript loader at run time.
 */
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** Paths of the bundled scripts. */
export interface ChildScripts {
  driver: string;
  peerServer: string;
  fakeHost: string;
}

/** Builds bench/dist/*.cjs and returns their paths. */
export async function buildChildren(): Promise<ChildScripts> {
  await build({
    absWorkingDir: root,
    entryPoints: {
      'gateway-driver': 'bench/drivers/gateway-driver.ts',
      'socketio-server': 'bench/peer/socketio-server.ts',
      'fake-host': 'bench/fake/fake-host.ts',
    },
    outdir: 'bench/dist',
    outExtension: { '.js': '.cjs' },
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    tsconfig: 'tsconfig.json',
    // ws's optional native helpers; absent, ws uses its JavaScript code.
    external: ['bufferutil', 'utf-8-validate'],
    logLevel: 'warning',
  });
  return { driver: `${root}bench/dist/gateway-driver.cjs`, peerServer: `${root}bench/dist/socketio-server.cjs`, fakeHost: `${root}bench/dist/fake-host.cjs` };
}
