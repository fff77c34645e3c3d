/**
 * What one idle authenticated gateway costs a relay node, taken apart: one compiled node (as `pnpm bench` runs it)
 * on its own Redis, gateways opened by the bench's drivers, and the node read through its inspector: RSS, V8 heap
 * (per space), external memory, with and without a full GC, at two gateway counts, plus a heap snapshot at each so
 * the objects a connection keeps can be counted by constructor.
 *
 *   pnpm build && pnpm tsx bench/gateway-memory-profile.ts [--first 1000] [--second 5000] [--snapshots /tmp/gw-heap]
 *     [--sample] [--churn]        (PROFILE_MAPS=1 splits RSS growth by mapping)
 *
 * Prints, per gateway between the two counts: RSS (as the bench reads it, 3 s after the last hello, no forced GC),
 * then heap used / external / RSS after a full GC, and (with --snapshots) the constructors whose count or self size
 * grew, per gateway. --sample profiles what the second batch of connects allocates that outlives a scavenge (what
 * fills the old space with garbage); --churn first shows how much RSS the young generation adds with no gateway at
 * all, which the bench's figure spreads over the gateways.
 */
import { mkdirSync, createWriteStream, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { Redis } from 'ioredis';
import { freePort, relayEnvFor, reserveRelayPorts, spawnRelayNode, startRedis, testCorp } from '@wecom-relay/testkit';
import { FakeHost } from './fake/fake-host-client.js';
import { DriverPool } from './drivers/driver-pool.js';
import type { GatewaySpec } from './drivers/driver-protocol.js';
import { buildChildren } from './lib/build-children.js';

const { values: flags } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    first: { type: 'string', default: '1000' },
    second: { type: 'string', default: '5000' },
    snapshots: { type: 'string' },
    // Samples what the second batch of connects allocates that survives a scavenge (live, or collected by a full GC).
    sample: { type: 'boolean', default: false },
    // Before any gateway: how much RSS the young generation adds once its pages are all touched (short-lived garbage
    // only), which the bench's (RSS with gateways - RSS before any) / gateways spreads over the gateways.
    churn: { type: 'boolean', default: false },
  },
});
const FIRST = Number(flags.first);
const SECOND = Number(flags.second);
const SETTLE_MS = 3_000;

/** A minimal Chrome DevTools Protocol client over the node's inspector socket. */
class Inspector {
  private next = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly listeners = new Map<string, (params: unknown) => void>();

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const msg = JSON.parse(data.toString()) as { id?: number; result?: unknown; error?: { message: string }; method?: string; params?: unknown };
      if (msg.id !== undefined) {
        const w = this.waiting.get(msg.id);
        this.waiting.delete(msg.id);
        if (msg.error) w?.reject(new Error(msg.error.message));
        else w?.resolve(msg.result);
      } else if (msg.method) {
        this.listeners.get(msg.method)?.(msg.params);
      }
    });
  }

  static async connect(port: number): Promise<Inspector> {
    const list = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as Array<{ webSocketDebuggerUrl: string }>;
    const ws = new WebSocket(list[0]!.webSocketDebuggerUrl, { maxPayload: 1 << 30 });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    return new Inspector(ws);
  }

  call<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = this.next++;
    this.ws.send(JSON.stringify({ id, method, params }));
    return new Promise((resolve, reject) => this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject }));
  }

  on(method: string, fn: (params: unknown) => void): void {
    this.listeners.set(method, fn);
  }

  async eval<T>(expression: string): Promise<T> {
    const r = await this.call<{ result: { value: T }; exceptionDetails?: unknown }>('Runtime.evaluate', { expression, returnByValue: true });
    if (r.exceptionDetails) throw new Error(JSON.stringify(r.exceptionDetails));
    return r.result.value;
  }

  async snapshot(path: string): Promise<void> {
    const out = createWriteStream(path);
    this.on('HeapProfiler.addHeapSnapshotChunk', (p) => out.write((p as { chunk: string }).chunk));
    await this.call('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
    await new Promise((resolve) => out.end(resolve));
  }

  close(): void {
    this.ws.close();
  }
}

interface Memory {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  spaces: Record<string, { used: number; size: number }>;
}

function spacesLine(m: Memory): string {
  const mb = (x: number): string => (x / 1e6).toFixed(1);
  return `rss ${mb(m.rss)} MB, heap used/total ${mb(m.heapUsed)}/${mb(m.heapTotal)} MB; ` + Object.entries(m.spaces).filter(([, v]) => v.size > 0).map(([k, v]) => `${k.replace('_space', '')} ${mb(v.used)}/${mb(v.size)}`).join(', ');
}

const READ_MEMORY = `(() => {
  const v8 = process.getBuiltinModule('v8');
  const m = process.memoryUsage();
  const spaces = {};
  for (const s of v8.getHeapSpaceStatistics()) spaces[s.space_name] = { used: s.space_used_size, size: s.space_size };
  return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers, spaces };
})()`;

function perGateway(a: Memory, b: Memory, n: number): string {
  const f = (x: number): string => `${(x / n / 1000).toFixed(2)} KB`;
  const spaces = Object.keys(b.spaces)
    .map((k) => [k, b.spaces[k]!.used - (a.spaces[k]?.used ?? 0), b.spaces[k]!.size - (a.spaces[k]?.size ?? 0)] as const)
    .filter(([, used, size]) => Math.abs(used) / n > 20 || Math.abs(size) / n > 20)
    .map(([k, used, size]) => `${k} used ${f(used)} size ${f(size)}`);
  return [
    `rss ${f(b.rss - a.rss)}`,
    `heapUsed ${f(b.heapUsed - a.heapUsed)}`,
    `heapTotal ${f(b.heapTotal - a.heapTotal)}`,
    `external ${f(b.external - a.external)}`,
    `arrayBuffers ${f(b.arrayBuffers - a.arrayBuffers)}`,
    `non-heap (rss - heapTotal) ${f(b.rss - b.heapTotal - (a.rss - a.heapTotal))}`,
    ...spaces,
  ].join('\n    ');
}

/** Count and self size per (node type, name) of a .heapsnapshot file. */
function summarize(path: string): Map<string, { count: number; size: number }> {
  const snap = JSON.parse(readFileSync(path, 'utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snap.snapshot.meta.node_fields;
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const types = snap.snapshot.meta.node_types[0];
  const out = new Map<string, { count: number; size: number }>();
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + typeAt]!]!;
    let name = snap.strings[snap.nodes[i + nameAt]!]!;
    // Strings and code are keyed by type only (their names are their contents).
    if (type === 'string' || type === 'concatenated string' || type === 'sliced string' || type === 'number' || type === 'code') name = '';
    if (type === 'closure') name = `${name}()`;
    const key = `${type}:${name.slice(0, 80)}`;
    const e = out.get(key) ?? { count: 0, size: 0 };
    e.count += 1;
    e.size += snap.nodes[i + sizeAt]!;
    out.set(key, e);
  }
  return out;
}

/** Resident KB per kind of mapping: glibc's main heap, other anonymous memory (V8 pages, thread arenas), files. */
function smaps(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  let key = '';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      const size = (parseInt(head[2]!, 16) - parseInt(head[1]!, 16)) / 1024;
      const name = head[3]!;
      key = name.startsWith('/') ? 'file' : name || (process.env.PROFILE_MAPS ? `anon ${head[1]} ${size} kB` : 'anon');
      if (name === '[heap]') key = '[heap] (brk)';
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) out.set(key, (out.get(key) ?? 0) + Number(rss[1]));
  }
  return out;
}

function smapsDiff(a: Map<string, number>, b: Map<string, number>, n: number): string {
  if (!process.env.PROFILE_MAPS) return [...b].map(([k, v]) => `${k} ${(((v - (a.get(k) ?? 0)) * 1024) / n / 1000).toFixed(2)} KB`).join(', ');
  // Per mapping: grouped by whether it existed before and by its size.
  const groups = new Map<string, { count: number; kb: number }>();
  for (const [k, v] of b) {
    const grew = v - (a.get(k) ?? 0);
    if (grew === 0) continue;
    const size = k.startsWith('anon ') ? k.split(' ')[2] : k;
    const g = `${a.has(k) ? 'grown' : 'new'} ${k.startsWith('anon ') ? `anon of ${size} kB` : k}`;
    const e = groups.get(g) ?? { count: 0, kb: 0 };
    e.count += 1;
    e.kb += grew;
    groups.set(g, e);
  }
  return [...groups].sort((x, y) => y[1].kb - x[1].kb).slice(0, 15).map(([g, e]) => `\n      ${g} ×${e.count}: ${((e.kb * 1024) / n / 1000).toFixed(2)} KB`).join('');
}

interface SamplingNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: SamplingNode[];
}
interface SamplingProfile {
  head: SamplingNode;
}

/** Bytes per gateway by allocating function, and the heaviest stacks. */
function printSamples(profile: SamplingProfile, n: number): void {
  const byFrame = new Map<string, number>();
  const stacks: Array<{ stack: string[]; size: number }> = [];
  const frameName = (f: SamplingNode['callFrame']): string => `${f.functionName || '(anon)'} ${f.url.replace(/^.*node_modules\/\.pnpm\/([^/]+)\/.*\/([^/]+)$/, '$1/$2').replace(/^.*\/dist\//, 'dist/')}:${f.lineNumber + 1}`;
  const walk = (node: SamplingNode, path: string[]): void => {
    const here = [...path, frameName(node.callFrame)];
    if (node.selfSize > 0) {
      byFrame.set(here.at(-1)!, (byFrame.get(here.at(-1)!) ?? 0) + node.selfSize);
      stacks.push({ stack: here, size: node.selfSize });
    }
    for (const c of node.children) walk(c, here);
  };
  walk(profile.head, []);
  const total = [...byFrame.values()].reduce((a, b) => a + b, 0);
  console.log(`  sampled allocations surviving a scavenge, per gateway: ${(total / n).toFixed(0)} B; by function:`);
  for (const [k, v] of [...byFrame].sort((a, b) => b[1] - a[1]).slice(0, 40)) console.log(`    ${(v / n).toFixed(0).padStart(6)} B  ${k}`);
  console.log('  heaviest stacks:');
  for (const s of stacks.sort((a, b) => b.size - a.size).slice(0, 25)) console.log(`    ${(s.size / n).toFixed(0).padStart(6)} B  ${s.stack.slice(-7).join(' < ').slice(0, 400)}`);
}

const specs = (from: number, to: number): GatewaySpec[] => Array.from({ length: to - from }, (_, i) => ({ index: from + i, home: 0 }));

const scripts = await buildChildren();
const redis = await startRedis();
const corp = testCorp();
const ports = await reserveRelayPorts();
const fake = await FakeHost.start(scripts.fakeHost, corp, [ports.webhookUrl]);
const inspectPort = await freePort();
const node = await spawnRelayNode(
  relayEnvFor(corp, fake.url, {
    REDIS_URL: redis.url,
    NODE_ID: 'profile-0',
    PORT: String(ports.port),
    WS_PORT: String(ports.wsPort),
    LOG_LEVEL: 'warn',
    SYNC_POLL_INTERVAL_MS: '600000',
    MAX_PENDING_SOCKETS_PER_ADDRESS: '100000',
    MAX_PENDING_SOCKETS: '100000',
    MAX_PENDING_BYTES: String(256 * 1024 * 1024),
    // Sets the port only; the inspector is opened with SIGUSR1 in the node alone (not in its process-group guard).
    NODE_OPTIONS: `--inspect-port=127.0.0.1:${inspectPort}`,
  }),
  { name: 'relay-profile', compiled: true, readyTimeoutMs: 60_000 },
);
const drivers = DriverPool.start(scripts.driver, 'relay', 1);
const nodePid = Number(execFileSync('pgrep', ['-P', String(node.pid)]).toString().trim());
process.kill(nodePid, 'SIGUSR1');
await sleep(500);
const inspector = await Inspector.connect(inspectPort);
const read = (): Promise<Memory> => inspector.eval<Memory>(READ_MEMORY);
const gc = async (): Promise<Memory> => {
  await inspector.call('HeapProfiler.collectGarbage');
  await inspector.call('HeapProfiler.collectGarbage');
  return read();
};
if (flags.snapshots) mkdirSync(flags.snapshots, { recursive: true });

try {
  await sleep(SETTLE_MS);
  const empty = await read();
  const emptyMaps = smaps(nodePid);
  if (flags.churn) {
    // 64 MB of objects that die at once: two passes through both semi-spaces, nothing promoted.
    // Kept in a small ring so each object escapes (is really allocated) and dies soon after.
    await inspector.eval<number>(`(() => { const ring = new Array(1024); for (let i = 0; i < 2e6; i++) ring[i & 1023] = { a: i, b: i, c: i }; return ring.length; })()`);
    await sleep(500);
    const churned = await read();
    console.log(`after ~80 MB of short-lived garbage, still no gateways: ${spacesLine(churned)}; rss +${((churned.rss - empty.rss) / 1e6).toFixed(1)} MB`);
  }
  console.log(`no gateways: ${spacesLine(empty)}`);
  const urls = [node.wsUrl];
  const redisClient = new Redis(redis.url);
  const commandStats = async (): Promise<Map<string, number>> =>
    new Map([...(await redisClient.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)].map((m) => [m[1]!, Number(m[2])]));
  let statsBefore = new Map<string, number>();
  const readings: Array<{ n: number; idle: Memory; collected: Memory; snapshot?: string }> = [];
  let connected = 0;
  for (const n of [FIRST, SECOND]) {
    const sampling = flags.sample && n === SECOND;
    if (n === SECOND) statsBefore = await commandStats();
    if (sampling) {
      await inspector.call('HeapProfiler.enable');
      await inspector.call('HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: false });
    }
    await drivers.connect(urls, specs(connected, n), corp.relaySecret);
    if (sampling) {
      await sleep(SETTLE_MS);
      const { profile } = await inspector.call<{ profile: SamplingProfile }>('HeapProfiler.stopSampling');
      printSamples(profile, n - connected);
    }
    connected = n;
    await sleep(SETTLE_MS);
    const idle = await read();
    if (n === SECOND) {
      const after = await commandStats();
      const per = [...after].map(([k, v]) => [k, (v - (statsBefore.get(k) ?? 0)) / (n - FIRST)] as const).filter(([, v]) => v >= 0.05);
      console.log(`  Redis commands per gateway connected (incl. ${SETTLE_MS} ms idle after): ${per.map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}`);
      redisClient.disconnect();
    }
    console.log(`  resident growth per gateway since no gateways, by mapping: ${smapsDiff(emptyMaps, smaps(nodePid), n)}`);
    console.log(`${n} gateways, as the bench reads it: rss per gateway ${((idle.rss - empty.rss) / n / 1000).toFixed(2)} KB`);
    console.log(`  ${spacesLine(idle)}`);
    const collected = await gc();
    console.log(`  after a full GC: ${spacesLine(collected)}`);
    const reading: (typeof readings)[number] = { n, idle, collected };
    if (flags.snapshots) {
      reading.snapshot = join(flags.snapshots, `gateways-${n}.heapsnapshot`);
      await inspector.snapshot(reading.snapshot);
    }
    readings.push(reading);
  }
  const [a, b] = readings as [(typeof readings)[0], (typeof readings)[0]];
  const n = b.n - a.n;
  console.log(`between ${a.n} and ${b.n} gateways, per gateway:`);
  console.log(`  as the bench reads it (no forced GC):\n    ${perGateway(a.idle, b.idle, n)}`);
  console.log(`  after a full GC:\n    ${perGateway(a.collected, b.collected, n)}`);
  if (a.snapshot && b.snapshot) {
    const sa = summarize(a.snapshot);
    const sb = summarize(b.snapshot);
    const rows = [...sb]
      .map(([k, v]) => ({ k, count: (v.count - (sa.get(k)?.count ?? 0)) / n, size: (v.size - (sa.get(k)?.size ?? 0)) / n }))
      .filter((r) => Math.abs(r.size) >= 4)
      .sort((x, y) => y.size - x.size);
    const total = rows.reduce((s, r) => s + r.size, 0);
    console.log(`  heap snapshot, self size per gateway by constructor (total of rows ${total.toFixed(0)} B):`);
    for (const r of rows.slice(0, 60)) console.log(`    ${r.size.toFixed(1).padStart(8)} B  ${r.count.toFixed(2).padStart(6)} × ${r.k}`);
  }
} finally {
  inspector.close();
  await drivers.stop();
  await node.stop();
  await fake.stop();
  await redis.stop();
}
