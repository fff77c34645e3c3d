// Runs before `pnpm install`: better-sqlite3 compiles from source where its prebuilt binary cannot be downloaded,
// and node-gyp then needs a C++ toolchain and Node's headers. Missing either makes the install fail deep inside
// node-gyp's output; this says up front what to do. It only warns: a prebuilt download may still succeed.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';

function onPath(name) {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => dir && existsSync(join(dir, name)));
}

const advice = [];
// package.json's packageManager pin, checked here because pnpm cannot record it in the lockfile (pnpm-workspace.yaml).
const pinned = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).packageManager;
const running = /\bpnpm\/(\S+)/.exec(process.env.npm_config_user_agent ?? '')?.[1];
if (pinned && running && `pnpm@${running}` !== pinned) {
  advice.push(`this is pnpm ${running}; the project is tested with ${pinned}: npm install -g ${pinned}`);
}
if (!['c++', 'g++', 'clang++'].some(onPath) || !onPath('make')) {
  advice.push(
    'no C++ toolchain (c++/g++/clang++ and make) on PATH: better-sqlite3 may have to compile from source.\n' +
      '    Debian/Ubuntu: apt-get install -y python3 make g++   macOS: xcode-select --install',
  );
}
const version = process.versions.node;
const prefix = dirname(dirname(process.execPath));
const nodedir = process.env.npm_config_nodedir;
const headersAt = (dir) => existsSync(join(dir, 'include', 'node', 'node_api.h'));
const cached = [join(homedir(), '.cache', 'node-gyp', version), join(homedir(), 'Library', 'Caches', 'node-gyp', version)];
if (nodedir ? !headersAt(nodedir) : !cached.some(headersAt)) {
  const local = headersAt(prefix) ? prefix : headersAt('/usr') ? '/usr' : null;
  advice.push(
    nodedir
      ? `npm_config_nodedir=${nodedir} has no include/node/node_api.h: point it at the directory holding Node's headers.`
      : local
        ? `Node's headers are at ${local}/include/node but node-gyp would download them:\n    export npm_config_nodedir=${local}   (then run pnpm install again)`
        : "Node's headers were not found and node-gyp will try to download them; offline, install them\n" +
          '    (Debian: apt-get install -y libnode-dev, or use the official Node tarball) and set npm_config_nodedir.',
  );
}
if (advice.length > 0) {
  process.stderr.write(`wecom-relay install check (see README "Troubleshooting the install"):\n  - ${advice.join('\n  - ')}\n`);
}
