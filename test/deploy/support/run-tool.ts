import { spawnSync } from 'node:child_process';

/** What a finished tool run printed. */
export interface ToolResult {
  stdout: string;
  stderr: string;
}

/** Raised when a tool exits non-zero; the message carries the command and what it printed. */
export class ToolFailedError extends Error {
  /** Stable code for callers that tell this apart from a missing tool. */
  readonly code = 'TOOL_FAILED';

  constructor(command: string, status: number | null, output: string) {
    super(`\`${command}\` exited with ${status ?? 'a signal'}:\n${output.trim()}`);
    this.name = 'ToolFailedError';
  }
}

/** Runs a tool to completion (bounded by timeoutMs) and returns its output; throws ToolFailedError on failure. */
export function runTool(binary: string, args: readonly string[], options: { cwd?: string; timeoutMs?: number } = {}): ToolResult {
  const result = spawnSync(binary, args, {
    cwd: options.cwd,
    encoding: 'utf8',
    timeout: options.timeoutMs ?? 60_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  const command = [binary, ...args].join(' ');
  if (result.error) throw new ToolFailedError(command, null, result.error.message);
  if (result.status !== 0) throw new ToolFailedError(command, result.status, `${result.stdout}\n${result.stderr}`);
  return { stdout: result.stdout, stderr: result.stderr };
}
