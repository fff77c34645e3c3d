import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

/** Where both stages of the Dockerfile work: the repository in the build stage, the deployed relay in the runtime one. */
export const IMAGE_APP_ROOT = '/app';

/** An image path under /app mapped onto a host directory holding the same tree: /app/dist -> <hostRoot>/dist. */
export function hostPath(imagePath: string, hostRoot: string): string {
  if (imagePath !== IMAGE_APP_ROOT && !imagePath.startsWith(`${IMAGE_APP_ROOT}/`)) {
    throw new Error(`${imagePath} is outside ${IMAGE_APP_ROOT}, where the image keeps the application`);
  }
  return join(hostRoot, imagePath.slice(IMAGE_APP_ROOT.length));
}

/** How a command started the way the image starts it ended. */
export interface CommandExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * A command run as the container would run it: the exec-form argv (`node` is this Node), the image's working
 * directory mapped onto a host copy of its tree, and only the given environment (a container inherits nothing else).
 */
export class ImageCommand {
  /** stdout and stderr, in arrival order. */
  output = '';
  private readonly child: ChildProcess;
  private readonly exited: Promise<CommandExit>;

  constructor(argv: readonly string[], options: { cwd: string; env: Record<string, string> }) {
    const [program = '', ...args] = argv;
    this.child = spawn(program === 'node' ? process.execPath : program, args, {
      cwd: options.cwd,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.child.stderr?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.exited = new Promise((resolve) => {
      this.child.once('error', (err) => {
        this.output += `\n[spawn error] ${err.message}`;
        resolve({ code: null, signal: null });
      });
      this.child.once('close', (code, signal) => resolve({ code, signal }));
    });
  }

  /** The process id that Docker would signal (PID 1 in the container). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Sends a signal to this process only, as `docker stop` and the kubelet do. */
  signal(signal: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }

  /** Resolves when the process has exited and its output is collected. */
  waitExit(): Promise<CommandExit> {
    return this.exited;
  }
}

/** Runs an image command to completion (killed after timeoutMs) and returns how it ended and what it printed. */
export async function runImageCommand(
  argv: readonly string[],
  options: { cwd: string; env: Record<string, string>; timeoutMs?: number },
): Promise<CommandExit & { output: string }> {
  const command = new ImageCommand(argv, options);
  const timer = setTimeout(() => command.signal('SIGKILL'), options.timeoutMs ?? 20_000);
  try {
    const exit = await command.waitExit();
    return { ...exit, output: command.output };
  } finally {
    clearTimeout(timer);
  }
}
