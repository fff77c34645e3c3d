import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { KfMessage, SyncMsgResponse } from '@wecom-relay/shared';
import { SyncLoop, type SyncSource } from '../../src/inbound/sync-loop.js';
import { LeaseSpread } from '../../src/inbound/lease-spread.js';
import { MemorySyncCoordinator } from '../../src/state/memory/index.js';
import type { SyncCoordinator } from '../../src/state/sync-coordinator.js';
import { createMetrics, type RelayMetrics } from '../../src/observability/metrics.js';

const KF_A = 'wkAccountA';
const KF_B = 'wkAccountB';

const loops: SyncLoop[] = [];
const sources: AccountsSource[] = [];
afterEach(async () => {
  // A failed assertion must not leave a pull held at its gate (close waits for running pulls).
  for (const source of sources.splice(0)) source.openAll();
  for (const loop of loops.splice(0)) await loop.close();
});

/**
 * WeCom's sync_msg for several accounts: each account has its own message list and its own cursors (a cursor is
 * the count of that account's messages read, prefixed with the account so one account's cursor means nothing to
 * another). `gate` holds an account's pulls until released.
 */
class AccountsSource implements SyncSource {
  readonly streams = new Map<string, string[]>();
  readonly pulls: Array<{ openKfid: string; cursor: string | undefined }> = [];
  readonly gates = new Map<string, Promise<void>>();
  private readonly openers: Array<() => void> = [];

  constructor() {
    sources.push(this);
  }

  /** Holds the account's pulls until the returned function is called. */
  hold(openKfid: string): () => void {
    let open!: () => void;
    this.gates.set(openKfid, new Promise<void>((resolve) => (open = resolve)));
    this.openers.push(open);
    return open;
  }

  openAll(): void {
    for (const open of this.openers) open();
  }

  say(openKfid: string, ...msgids: string[]): void {
    this.streams.set(openKfid, [...(this.streams.get(openKfid) ?? []), ...msgids]);
  }

  async syncMsg(req: { openKfid: string; cursor?: string }): Promise<SyncMsgResponse> {
    this.pulls.push({ openKfid: req.openKfid, cursor: req.cursor });
    await this.gates.get(req.openKfid);
    const stream = this.streams.get(req.openKfid) ?? [];
    let from = 0;
    if (req.cursor !== undefined) {
      const [kf, n] = req.cursor.split('@');
      if (kf !== req.openKfid) throw Object.assign(new Error('invalid cursor'), { errcode: 40058 });
      from = Number(n);
    }
    const msg_list = stream.slice(from).map((msgid) => ({ msgid, send_time: 1, origin: 3, msgtype: 'text', external_userid: `wm-${msgid}`, open_kfid: req.openKfid }) as KfMessage);
    return { errcode: 0, errmsg: 'ok', has_more: 0, next_cursor: `${req.openKfid}@${stream.length}`, msg_list } as SyncMsgResponse;
  }
}

function loop(o: {
  openKfid: string;
  source: SyncSource;
  coordinator: SyncCoordinator;
  seen: string[];
  spread?: LeaseSpread;
  metrics?: RelayMetrics;
  node?: string;
}): SyncLoop {
  const l = new SyncLoop({
    openKfid: o.openKfid,
    source: o.source,
    coordinator: o.coordinator,
    sink: async (m) => {
      o.seen.push(`${o.node ?? ''}${o.node ? ':' : ''}${o.openKfid}:${m.msgid}`);
    },
    logger: pino({ level: 'silent' }),
    metrics: o.metrics ?? createMetrics('sync-kf'),
    pollIntervalMs: 3_600_000,
    retryDelayMs: 3_600_000,
    leaseMs: 60_000,
    ...(o.spread ? { spread: o.spread } : {}),
  });
  loops.push(l);
  return l;
}

/** The cursor stored for an account, read through a lease as any puller would. */
async function storedCursor(coordinator: SyncCoordinator, openKfid: string): Promise<string | null> {
  const lease = await coordinator.tryAcquire(openKfid, 1_000);
  if (!lease) throw new Error(`lease of ${openKfid} is held`);
  try {
    return await lease.cursor();
  } finally {
    await lease.release();
  }
}

describe('several kf accounts: one pull loop each', () => {
  it('pulls only the account that was notified, and keeps one cursor per account', async () => {
    const coordinator = new MemorySyncCoordinator();
    const source = new AccountsSource();
    const seen: string[] = [];
    const metrics = createMetrics('sync-kf');
    const a = loop({ openKfid: KF_A, source, coordinator, seen, metrics });
    const b = loop({ openKfid: KF_B, source, coordinator, seen, metrics });
    source.say(KF_A, 'a1', 'a2');
    source.say(KF_B, 'b1');

    await a.notify(null);
    await a.idle();
    expect(seen).toEqual([`${KF_A}:a1`, `${KF_A}:a2`]);
    expect(source.pulls.every((p) => p.openKfid === KF_A)).toBe(true);
    expect(await storedCursor(coordinator, KF_A)).toBe(`${KF_A}@2`);
    expect(await storedCursor(coordinator, KF_B)).toBeNull();

    await b.notify(null);
    await b.idle();
    source.say(KF_A, 'a3');
    await a.notify(null);
    await a.idle();
    expect(seen).toEqual([`${KF_A}:a1`, `${KF_A}:a2`, `${KF_B}:b1`, `${KF_A}:a3`]);
    // Each account's pull continued from its own cursor, never from the other's.
    expect(source.pulls).toEqual([
      { openKfid: KF_A, cursor: undefined },
      { openKfid: KF_B, cursor: undefined },
      { openKfid: KF_A, cursor: `${KF_A}@2` },
    ]);
    expect(await storedCursor(coordinator, KF_B)).toBe(`${KF_B}@1`);
    const pages = Object.fromEntries((await metrics.syncPages.get()).values.map((v) => [String(v.labels.open_kfid), v.value]));
    expect(pages).toEqual({ [KF_A]: 2, [KF_B]: 1 });
  });

  it('holds one lease per account: a pull of one account does not keep the other waiting', async () => {
    const coordinator = new MemorySyncCoordinator();
    const source = new AccountsSource();
    const seen: string[] = [];
    const openGate = source.hold(KF_A);
    source.say(KF_A, 'a1');
    source.say(KF_B, 'b1');
    const a = loop({ openKfid: KF_A, source, coordinator, seen });
    const b = loop({ openKfid: KF_B, source, coordinator, seen });
    await a.notify(null); // holds A's lease until the gate opens
    await b.notify(null);
    await b.idle();
    expect(seen).toEqual([`${KF_B}:b1`]);
    openGate();
    await a.idle();
    expect(seen).toEqual([`${KF_B}:b1`, `${KF_A}:a1`]);
  });
});

describe('lease spreading over nodes', () => {
  it('counts the leases of other accounts a node holds', () => {
    const spread = new LeaseSpread(100);
    expect(spread.delayFor(KF_A)).toBe(0);
    spread.acquired(KF_A);
    expect(spread.delayFor(KF_A)).toBe(0);
    expect(spread.delayFor(KF_B)).toBe(100);
    spread.acquired(KF_B);
    expect(spread.delayFor('wkThird')).toBe(200);
    spread.released(KF_A);
    expect(spread.accounts()).toEqual([KF_B]);
    expect(spread.delayFor(KF_A)).toBe(100);
  });

  it('a node pulling one account lets an idle node take the second, even when it was asked first', async () => {
    const coordinator = new MemorySyncCoordinator(); // the shared state both nodes see
    const source = new AccountsSource();
    const seen: string[] = [];
    const openGate = source.hold(KF_A);
    source.say(KF_A, 'a1');
    source.say(KF_B, 'b1');
    // A step long enough that node 1 cannot reach the lease before node 2 in this test; close() cuts it short.
    const spread1 = new LeaseSpread(3_600_000);
    const spread2 = new LeaseSpread(3_600_000);
    const node1A = loop({ node: 'n1', openKfid: KF_A, source, coordinator, seen, spread: spread1 });
    const node1B = loop({ node: 'n1', openKfid: KF_B, source, coordinator, seen, spread: spread1 });
    const node2B = loop({ node: 'n2', openKfid: KF_B, source, coordinator, seen, spread: spread2 });

    await node1A.notify(null); // node 1 pulls account A (held by the gate)
    expect(spread1.accounts()).toEqual([KF_A]);
    await node1B.notify(null); // a callback for B lands on node 1 first...
    await node2B.notify(null); // ...and one on node 2
    await node2B.idle();
    expect(seen).toEqual([`n2:${KF_B}:b1`]);
    expect(spread1.accounts()).toEqual([KF_A]);
    openGate();
    await node1A.idle();
    expect(seen).toEqual([`n2:${KF_B}:b1`, `n1:${KF_A}:a1`]);
  });

  it('a node alone still pulls the second account, after its short wait', async () => {
    const coordinator = new MemorySyncCoordinator();
    const source = new AccountsSource();
    const seen: string[] = [];
    const openGate = source.hold(KF_A);
    source.say(KF_A, 'a1');
    source.say(KF_B, 'b1');
    const spread = new LeaseSpread(20);
    const a = loop({ openKfid: KF_A, source, coordinator, seen, spread });
    const b = loop({ openKfid: KF_B, source, coordinator, seen, spread });
    await a.notify(null);
    await b.notify(null);
    await b.idle();
    expect(seen).toEqual([`${KF_B}:b1`]);
    openGate();
    await a.idle();
    expect(spread.accounts()).toEqual([]);
  });
});
