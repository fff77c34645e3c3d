// Compiles the relay node for production: one ES module per entry point in dist/, run with plain `node`.
// The project's own workspace packages (TypeScript sources) are bundled in, and so are the pure-JavaScript
// dependencies in BUNDLED: tree-shaken and without comments, their code takes about 3.8 MB less of an idle node's heap
// than loaded whole from node_modules (zod alone brings every locale), and an idle node's RSS varies less. The rest
// stay imports resolved at run time from node_modules: better-sqlite3 (native) and pino (its transports load
// worker files by path). Whitespace is minified, names are kept; --enable-source-maps maps stack traces back.
// Plain JavaScript so it runs before anything is compiled.
import { readFileSync, rmSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const runtimeDeps = new Set(Object.keys(pkg.dependencies ?? {}));
const builtins = new Set(builtinModules);
/** Dependencies compiled into dist/: pure JavaScript, nothing loaded by path at run time. */
const BUNDLED = new Set(['zod', 'fast-xml-parser', 'lru-cache', 'ioredis', 'prom-client', 'ws', 'ipaddr.js', 'proxy-addr']);
/** Native helpers ws tries to load and does without; left to run time, where they are absent. */
const OPTIONAL = new Set(['bufferutil', 'utf-8-validate']);

/** The package a bare specifier names: `@scope/name/sub` -> `@scope/name`, `name/sub` -> `name`. */
function packageOf(specifier) {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/**
 * Decides, for every bare import, between bundling (workspace packages) and leaving it to node_modules (the
 * package's runtime dependencies). Anything else fails the build: in production only `dependencies` are installed,
 * so an import of a dev-only or undeclared package would otherwise fail only when the image starts.
 */
const dependencyGuard = {
  name: 'dependency-guard',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      const name = packageOf(args.path);
      if (args.path.startsWith('node:') || builtins.has(name)) return { path: args.path, external: true };
      if (name.startsWith('@wecom-relay/')) return undefined;
      // Only bundled packages are read from node_modules, and their own dependencies come with them.
      if (args.importer.includes('/node_modules/')) return OPTIONAL.has(name) ? { path: args.path, external: true } : undefined;
      if (runtimeDeps.has(name)) return BUNDLED.has(name) ? undefined : { path: args.path, external: true };
      return { errors: [{ text: `${args.path} is imported by ${args.importer} but is not in ${pkg.name}'s dependencies` }] };
    });
  },
};

rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: { main: 'src/main.ts', 'relay-cli': 'src/cli/relay-cli.ts' },
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.12',
  sourcemap: 'linked',
  minifyWhitespace: true,
  // The bundled CommonJS packages require Node's built-in modules; an ES module has no require of its own.
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
  sourcesContent: false,
  chunkNames: 'chunks/[name]-[hash]',
  plugins: [dependencyGuard],
  logLevel: 'warning',
});
