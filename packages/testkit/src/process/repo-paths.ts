import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isAbsolute, join } from 'node:path';

/** The monorepo root, found from this file's place in packages/testkit/src/process. */
export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

/** The repository's own tsx, so spawned processes run the same TypeScript loader as the tests. */
export const TSX_BIN = join(REPO_ROOT, 'node_modules', '.bin', 'tsx');

/** The repository's tsx as a loader (`node --import <this> file.ts`): one process, as the service runs in production. */
export const TSX_LOADER = pathToFileURL(createRequire(join(REPO_ROOT, 'package.json')).resolve('tsx')).href;

/** Absolute path of a repository-relative file (absolute paths pass through). */
export function repoPath(relative: string): string {
  return isAbsolute(relative) ? relative : join(REPO_ROOT, relative);
}
