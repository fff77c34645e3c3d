/** A forked helper process spoken to over Node IPC: numbered requests, so a quick one is answered during a long one. */
import { fork, type ChildProcess } from 'node:child_process';

/**
 * Node flags for every helper (the gateway drivers, the fake WeCom host), from BENCH_CHILD_FLAGS: e.g.
 * `--cpu-prof --cpu-prof-dir=/tmp/prof` for their CPU profiles (bench/cpu-profile-report.ts reads them).
 */
const childFlags = process.env.BENCH_CHILD_FLAGS?.split(' ').filter(Boolean) ?? [];

/** How requests and replies travel. */
export interface IpcEnvelope<T> {
  id: number;
  req: T;
}

/** The parent's handle on one helper process. */
export class IpcChild<Req extends { type: string }, Rep> {
  private seq = 0;
  private readonly waiting = new Map<number, { resolve: (r: Rep) => void; reject: (e: Error) => void }>();
  private exited: Error | null = null;
  readonly child: ChildProcess;

  constructor(
    script: string,
    readonly name: string,
    env?: NodeJS.ProcessEnv,
  ) {
    this.child = fork(script, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: childFlags, ...(env ? { env } : {}) });
    this.child.on('message', (msg: IpcEnvelope<Rep>) => {
      const w = this.waiting.get(msg.id);
      this.waiting.delete(msg.id);
      w?.resolve(msg.req);
    });
    this.child.on('exit', (code, signal) => {
      this.exited = new Error(`${name} (pid ${this.child.pid}) exited (code ${code}, signal ${signal})`);
      for (const w of this.waiting.values()) w.reject(this.exited);
      this.waiting.clear();
    });
  }

  /** The process id. */
  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Sends a request and waits (bounded) for its reply. */
  ask<R extends Rep = Rep>(req: Req, timeoutMs: number): Promise<R> {
    if (this.exited) return Promise.reject(this.exited);
    const id = ++this.seq;
    return new Promise<R>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`${this.name} (pid ${this.pid}): no answer to ${req.type} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(id, {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r as R);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.child.send({ id, req } satisfies IpcEnvelope<Req>);
    });
  }

  /** Kills the process if it is still running. */
  kill(): void {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    // A profiled child leaves on its own (see serveIpc), so Node writes its profile; one killed writes nothing.
    if (childFlags.length > 0 && this.child.connected) this.child.disconnect();
    else this.child.kill('SIGKILL');
  }
}

/** The child's side: answers each request with `handle`, exits when the parent goes away. */
export function serveIpc<Req extends { type: string }, Rep>(handle: (req: Req) => Promise<Rep>, after?: (rep: Rep) => void): void {
  process.on('message', ({ id, req }: IpcEnvelope<Req>) => {
    handle(req).then(
      (rep) => {
        process.send?.({ id, req: rep } satisfies IpcEnvelope<Rep>);
        after?.(rep);
      },
      (err: unknown) => {
        process.stderr.write(`${process.argv[1]}: ${String(err)}\n`);
        process.exit(1);
      },
    );
  });
  process.on('disconnect', () => process.exit(0));
}
