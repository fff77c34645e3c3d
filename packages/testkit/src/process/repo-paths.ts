import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isAbsolute, join } from 'node:path';

/** The monorepo root, found from this file's place in packages/testkit/src/process. */
export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

/** The repository's own tsx, so spawned processes run the same TypeScript loader as the tests. */
export const TSX_BIN = join(REPO_ROOT, 'node_modules', '.bin', 'tsx');

/** The repository's tsx as a loader (`node --import <this> file.ts`): one process, as the service runs in production. */
export const TSX_LOADER = pathToFileURL(createRequire(join(REPO_ROOT, 'package.json')).resolve('tsx')).href;

/**
 * The flags production starts the compiled relay with (the Docker image's ENTRYPOINT and `pnpm start` carry the same;
 * test/deploy keeps them equal). ManagedProcess runs every compiled script with them: relay nodes in tests and
 * benchmarks run as deployed, and the bench's Socket.IO peer, drivers and fake host run alike. Source maps name the
 * TypeScript line in a stack trace. One V8 helper thread instead of Node's four: a node is one event loop, and each
 * helper keeps its own malloc arena and stack, about 5 MB of resident memory for three more (measured on an idle
 * node); CPU per routed message did not move in `pnpm bench`.
 */
export const RELAY_NODE_FLAGS: readonly string[] = ['--enable-source-maps', '--v8-pool-size=1'];

/** Absolute path of a repository-relative file (absolute paths pass through). */
export function repoPath(relative: string): string {
  return isAbsolute(relative) ? relative : join(REPO_ROOT, relative);
}
