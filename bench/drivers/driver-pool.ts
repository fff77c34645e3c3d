/** The bench's side of the gateway drivers: forks enough of them and spreads gateways over them. */
import { IpcChild } from '../lib/ipc-child.js';
import type { DriverMode, DriverReply, DriverRequest, GatewaySpec } from './driver-protocol.js';

/** Gateways per driver process: each holds one socket per gateway under a 20,000 open-file limit. */
export const GATEWAYS_PER_DRIVER = 9_000;
/**
 * Connects each driver has in flight at once: with up to 6 drivers this stays under a listener's default accept
 * backlog (511), so a connect is not slowed by a dropped SYN.
 */
const CONNECT_BATCH = 80;

type Driver = IpcChild<DriverRequest, DriverReply>;

/** Received frames, merged over all drivers. */
export interface Arrivals {
  ids: string[];
  at: number[];
}

/** A set of driver processes holding the gateways of one system. */
export class DriverPool {
  private constructor(
    private readonly drivers: Driver[],
    private readonly mode: DriverMode,
  ) {}

  /** Forks `count` drivers running the bundled driver script. */
  static start(script: string, mode: DriverMode, count: number): DriverPool {
    const drivers = Array.from({ length: Math.max(1, count) }, (_, i): Driver => new IpcChild(script, `gateway driver ${i}`));
    return new DriverPool(drivers, mode);
  }

  /** Driver process ids (their CPU and memory are measured too). */
  get pids(): number[] {
    return this.drivers.map((d) => d.pid);
  }

  /** Opens the gateways, spread over the drivers; throws when any could not connect. */
  async connect(urls: string[], gateways: GatewaySpec[], relaySecret: string, timeoutMs = 60_000): Promise<void> {
    const parts: GatewaySpec[][] = this.drivers.map(() => []);
    gateways.forEach((g, i) => parts[i % parts.length]!.push(g));
    const replies = await Promise.all(
      this.drivers.map((d, i) =>
        d.ask<Extract<DriverReply, { type: 'connected' }>>({ type: 'connect', mode: this.mode, urls, gateways: parts[i]!, relaySecret, batch: CONNECT_BATCH, timeoutMs }, timeoutMs + parts[i]!.length * 20),
      ),
    );
    const failed = replies.reduce((n, r) => n + r.failed, 0);
    if (failed > 0) {
      throw new Error(`${failed} of ${gateways.length} ${this.mode} gateways could not connect: ${replies.find((r) => r.firstError)?.firstError}`);
    }
  }

  /** Frames received so far and sockets open now, over all drivers. */
  async count(): Promise<{ received: number; open: number }> {
    const all = await Promise.all(this.drivers.map((d) => d.ask<Extract<DriverReply, { type: 'count' }>>({ type: 'count' }, 30_000)));
    return { received: all.reduce((n, c) => n + c.received, 0), open: all.reduce((n, c) => n + c.open, 0) };
  }

  /** Takes the arrivals recorded since the last drain. */
  async drain(): Promise<Arrivals> {
    const all = await Promise.all(this.drivers.map((d) => d.ask<Extract<DriverReply, { type: 'drained' }>>({ type: 'drain' }, 60_000)));
    return { ids: all.flatMap((a) => a.ids), at: all.flatMap((a) => a.at) };
  }

  /** From now on, sockets that drop are tracked until they reopen. */
  async mark(): Promise<void> {
    await Promise.all(this.drivers.map((d) => d.ask({ type: 'mark' }, 30_000)));
  }

  /** Sockets dropped since the mark, reopened since, and when the last one reopened. */
  async dropped(): Promise<{ dropped: number; reopened: number; lastReopenAt: number }> {
    const all = await Promise.all(this.drivers.map((d) => d.ask<Extract<DriverReply, { type: 'dropped' }>>({ type: 'dropped' }, 30_000)));
    return {
      dropped: all.reduce((n, c) => n + c.dropped, 0),
      reopened: all.reduce((n, c) => n + c.reopened, 0),
      lastReopenAt: Math.max(0, ...all.map((c) => c.lastReopenAt)),
    };
  }

  /** Closes every gateway and ends the drivers (killing any that do not answer). */
  async stop(): Promise<void> {
    await Promise.allSettled(this.drivers.map((d) => d.ask({ type: 'close' }, 15_000)));
    for (const d of this.drivers) d.kill();
  }
}
