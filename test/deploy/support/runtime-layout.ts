import { spawnSync } from 'node:child_process';
import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '@wecom-relay/testkit';
import { instructionArgs, type DockerStage } from './dockerfile.js';

/** The build stage's RUN that lays out the runtime tree, and the directory it writes. */
export interface LayoutStep {
  command: string;
  targetDir: string;
}

/** Finds the RUN instruction holding `pnpm ... deploy --prod <dir>` and the directory it deploys into. */
export function findLayoutStep(stage: DockerStage): LayoutStep {
  for (const command of instructionArgs(stage, 'RUN')) {
    const target = /\bdeploy\b[^&]*--prod\s+(\/\S+)/.exec(command)?.[1];
    if (target) return { command, targetDir: target };
  }
  throw new Error('the build stage has no RUN with `pnpm ... deploy --prod <dir>`');
}

/**
 * Runs the layout step on this checkout as the build stage runs it on its copy of the repository, with the target
 * directory replaced by `hostDir` and pnpm kept offline (the store is already filled by the checkout's install).
 */
export function runLayoutStep(step: LayoutStep, hostDir: string, timeoutMs = 180_000): void {
  const escaped = step.targetDir.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  const command = step.command.replace(new RegExp(`${escaped}(?=/|\\s|$)`, 'g'), hostDir);
  const result = spawnSync('sh', ['-ec', command], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout: timeoutMs,
    env: { ...process.env, npm_config_offline: 'true' },
  });
  if (result.status !== 0) {
    throw new Error(`layout step failed (${result.status ?? result.error?.message}):\n${command}\n${result.stdout}\n${result.stderr}`);
  }
}

/** Bytes of the regular files under a directory, each inode counted once, symlinks not followed (what a layer holds). */
export function treeBytes(dir: string): number {
  const seen = new Set<string>();
  let total = 0;
  const walk = (path: string): void => {
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      const full = join(path, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile()) {
        const st = lstatSync(full);
        const key = `${st.dev}:${st.ino}`;
        if (!seen.has(key)) {
          seen.add(key);
          total += st.size;
        }
      }
    }
  };
  walk(dir);
  return total;
}

/** Names of the packages in a pnpm virtual store (`node_modules/.pnpm/<name>@<version>`), scope restored. */
export function virtualStorePackages(nodeModules: string): string[] {
  return readdirSync(join(nodeModules, '.pnpm'), { withFileTypes: true })
    .filter((e) => e.isDirectory() && e.name !== 'node_modules')
    .map((e) => /^(@[^/]+\/[^@]+|[^@]+)@/.exec(e.name.replace(/^@([^+]+)\+/, '@$1/'))?.[1] ?? e.name);
}
