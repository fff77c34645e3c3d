/** Writes a run's JSON lines and chart, and regenerates docs/benchmarks.md from every run file present. */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatNumber, formatRatio, ratioOf, type FigureLine } from './figures.js';
import { runSection, type RunHeader } from './render-markdown.js';
import { ratioChart } from './render-svg.js';

const RUNS: Array<{ file: string; title: string }> = [
  { file: 'single-redis', title: 'Three nodes on one Redis' },
  { file: 'redis-cluster', title: 'Three nodes on a Redis Cluster (3 masters, 3 replicas)' },
  { file: 'single-redis-legacy', title: 'Three nodes on one Redis, gateways as deployed (legacy delivery, no acknowledgements)' },
  { file: 'redis-cluster-legacy', title: 'Three nodes on a Redis Cluster, gateways as deployed (legacy delivery, no acknowledgements)' },
];

/** The base name of a run's files: its Redis, and `-legacy` for a run with gateways as deployed. */
export const runFile = (header: Pick<RunHeader, 'mode' | 'delivery'>): string =>
  `${header.mode === 'single' ? 'single-redis' : 'redis-cluster'}${header.delivery === 'legacy' ? '-legacy' : ''}`;

/** One JSON line per figure, after a line describing the run. */
export function toJsonLines(header: RunHeader, lines: readonly FigureLine[]): string {
  return [JSON.stringify({ type: 'run', ...header }), ...lines.map((l) => JSON.stringify({ type: 'figure', ...l }))].join('\n') + '\n';
}

/** Reads a run file back. */
export function fromJsonLines(text: string): { header: RunHeader; lines: FigureLine[] } {
  const parsed = text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string } & Record<string, unknown>);
  const head = parsed.find((p) => p.type === 'run');
  if (!head) throw new Error('run file without a run line');
  const strip = ({ type: _t, ...rest }: { type: string } & Record<string, unknown>) => rest;
  return {
    header: strip(head) as unknown as RunHeader,
    lines: parsed.filter((p) => p.type === 'figure').map((p) => strip(p) as unknown as FigureLine),
  };
}

const INTRO = `# Benchmarks

\`pnpm bench\` is the project's performance record: it builds the relay, starts three compiled relay nodes on a real
Redis with their own fake WeCom and real gateway sockets (SDK gateways, acknowledged delivery), and then, in the same
sitting and driven the same way, a small **Socket.IO 4.8 cluster on \`@socket.io/redis-adapter\`** (3 server processes on
the same Redis; one of them pulls \`kf/sync_msg\` pages from its own fake WeCom and emits each message to its gateway's
room). Every figure is printed with its ratio relay ÷ peer and, where the issue sets one, its target. This file, the
JSON lines (\`docs/benchmarks/*.jsonl\`, one line per figure) and the charts are all written by the bench; do not edit
them by hand.

\`\`\`sh
pnpm bench                                   # everything, one Redis (a record's header says how long its run took)
pnpm bench --redis-cluster                   # the same on a local Redis Cluster, plus Redis CPU per shard
pnpm bench --quick                           # small sizes (hundreds of gateways, a few thousand messages)
pnpm bench --scenarios burst,steady          # pick scenarios: idle, fixed, burst, steady, storm, capacity
pnpm bench --sizes burstMessages=50000       # change a size (names: FULL_SIZES in bench/scenarios/scenario-context.ts)
pnpm bench --rounds 3                        # fixed costs, burst and steady rate 3 times each: the median (losses, max: the worst)
pnpm bench --delivery legacy                 # the relay's gateways as deployed: protocol v1, no acknowledgements
\`\`\`

The burst and the steady rate move most from one run to the next on a shared machine (tens of percent for latency
tails and Redis CPU, for either system); with \`--rounds n\` they are measured n times, the relay and the peer taking
turns to go first, and each figure is the median of its rounds, the rounds' own values listed in its note; messages
delivered and the max latency keep their worst round instead (a loss or a spike in any round stands).

By default the relay's gateways are SDK gateways in ack mode, with the SDK's defaults: each handled event is confirmed
by a cumulative \`delivery_ack\` frame, which the relay stores, held back up to 5 s (\`ackDelayMs\`) so that the events
a gateway handles within those seconds share one frame. Each ack frame costs the gateway a socket write and the node a
read that the peer's do not make.
With \`--delivery legacy\` they speak protocol v1 as the deployed gateways do (hello without \`delivery\`, no
acknowledgements: the relay records their progress once per written batch); the peer is driven as always. The two
records together show what the acknowledgements cost apart from the rest of the path. The targets are judged on every
run; the record they are written against is the default one.

How each figure is measured:

- CPU: \`/proc/<pid>/stat\` (user + system) of every process, before and after the measured window: each server
  (relay node or Socket.IO server, with its process group), every \`redis-server\` (per shard on a cluster), the
  fake WeCom and the gateway driver processes. Per message = CPU in the window ÷ messages delivered. The window of the
  burst starts at the callback (messages are appended to the fake WeCom before it) and ends 6 s after the last frame
  (1 s more than the SDK holds an acknowledgement back), so acknowledgements are counted. Records before 2026-12-05
  20:12 UTC ended it 1 s after, and their SDK gateways acknowledged each run of events at once. Redis \`INFO
  commandstats\` deltas per message are in the notes.
  Redis commands per message counts every command Redis ran, a script's own included; Redis round trips per message
  counts read events on client connections (\`INFO stats\` total_reads_processed), where a client's batching and a
  script that does the work of several calls show.
- Memory: RSS from \`/proc\` of each server (largest process of its group). Per gateway = (RSS with the gateways −
  RSS before any) ÷ gateways on that node, 3 s after the last one authenticated. The relay nodes run with their
  default \`IDLE_COLLECT_AFTER_MS\` (1 s): a node whose event loop falls quiet after its heap grew runs one full
  collection, which gives back what V8 held from the busy spell, unless it pulled or delivered a message in the last
  minute (as between the burst and the steady rate; records before 2026-12-06 10:15 UTC collected there too, and the
  steady rate then ran on code V8 compiled again); the Socket.IO servers have no such step. The
  servers of both systems run with the relay's production node flags (testkit's \`RELAY_NODE_FLAGS\`:
  \`--enable-source-maps --v8-pool-size=1\`, as the Docker image and \`pnpm start\`); the drivers and fake WeCom hosts
  run with Node's defaults for both.
- Redis memory kept per delivered message: \`used_memory\` (summed over the masters) 6 s after the burst's last frame
  (1 s before 2026-12-05 20:12 UTC) minus before it, less the replication backlog and the replicas' output buffers
  (\`mem_replication_backlog\`, \`mem_clients_slaves\`): those are rings of a configured size that any writes fill, so
  on a Redis Cluster a backlog still filling when the burst began counted as kept per message (6 of 70.7 bytes in a
  relay-only run). A server without replicas has neither. Records before 2026-12-05 00:30 UTC include them.
- Latency: from the moment the fake WeCom serves the \`sync_msg\` page carrying a message (its \`/control/served\`
  clock) to the moment a gateway driver receives the frame; both run on this machine, so the clocks agree (the
  fake's clock has millisecond resolution). The steady rate first runs for \`steadyWarmupSeconds\` (20 s; 1 s with
  \`--quick\`), for both systems alike, and those messages count in no figure but their own row (p99 and max of the
  warm-up): the first seconds of traffic on a fresh system (JIT, scripts loaded on first use, heaps growing to the
  load) are a transient, not the steady state. Records before 2026-12-04 20:00 UTC had no warm-up, and records before
  2026-12-06 19:30 UTC had 3 s: the relay's callback and acknowledgement paths, run tens to hundreds of times a
  second, were still being compiled then (V8's optimizing compiler took 17 % of the relay nodes' CPU in the measured
  window after 3 s, 10 % after 20 s, \`perf record\` of the nodes), which put 9–16 % on the relay's steady CPU per
  message and nothing measurable on the peer's (three alternated \`--scenarios burst,steady\` runs of each: relay
  152, 141, 152 µs with 3 s against 128, 128, 131 µs with 20 s; peer 108, 99.8, 109 against 104, 109, 97.3 µs).
  The steady rows "a page's first frame" and "a page's frames, first to last" split a message's latency in two, per
  page (the messages one \`sync_msg\` answer carried, told apart by the millisecond it was served): how long the page
  took to reach its first gateway (the hops from WeCom's answer to a socket: for the relay the page's routing step and
  the wake-up, which carries the messages, so the owner reads its queue only where older ones wait (records before
  2026-12-05 10:39 UTC also have a queue read); for the peer one publish), and how long its frames then took to reach
  the last of its gateways (writing them to about a hundred sockets on three servers and the drivers reading them,
  alike for both). Records before 2026-12-05 04:50 UTC do not have them.
- Reconnect storm: the node holding a third of the gateways is SIGKILLed; one message per gateway of that node is
  sent right after. Gateways know all three nodes and fail over to the others (the SDK gateways and the Socket.IO
  clients use the same backoff: 500 ms doubling, half jitter). Lost = messages never delivered. The peer keeps nothing
  for a disconnected socket, so its lost count is what a Socket.IO deployment loses.
- The peer gets for free what the relay pays for: no binding lookup (a user's room is derived from its name), no
  durable queue, no acknowledgements, no dedup. That is the comparison the targets are written against.
- Redis CPU per message against its floor: \`pnpm tsx bench/redis-script-cost-bench.ts\` runs the relay's route script
  alone on a fresh redis-server (pages of 100 messages, each for another user's gateway), then sends the same events as
  a bare \`PUBLISH\` to a channel three connections subscribe to (the peer's work per message) and as a bare \`XADD\` to
  a gateway's stream (a durable append and nothing else), 100 to a pipeline. Two runs on 2026-12-07 02:00 UTC, at
  2,000 messages a second of WeCom send time: the route script 13.2 and 13.5 µs a message (8.7 commands), the
  \`PUBLISH\` 0.7 and 1.0 µs, the \`XADD\` 1.3 µs; at 20,000 a second the route script 17.2 and 18.5 µs (11.2
  commands). The append costs Redis about what the publish does; the rest is what the relay keeps and reads around it
  for each message: the routing decision a re-pull finds (its walk down packed hashes grows deeper in a busier
  minute), the stream's last id, the owner's record. In the rows above the route step also notes send windows and
  checks bindings, and the peer publishes one message per call. Since the route call packs its values into one
  argument (2026-12-07 04:10 UTC, three runs alternated with the code before, on a slower sitting: \`PUBLISH\` 1.5–2.0
  µs, \`XADD\` 1.8–2.5 µs), the route script costs 18.0, 16.5 and 18.0 µs a message against 18.3, 20.8 and 18.8 before.
- What the route script's Redis work is made of: \`pnpm tsx bench/route-instructions.ts --pages 3 --page 500\` (Redis
  instructions a message under callgrind, with a redis-server built from the 7.0.15 source first on PATH so its
  functions have names), run on 2026-12-07 with the script as it is and with one of its steps cut out of its Lua source
  at a time: 144,590 as it is; without the lookup of a decision kept alone by a relay before packing 141,830 (−2 %),
  without the routing decision's packed tree 126,457 (−13 %; with \`--pages 8 --page 1000\`, a deeper tree in a busier
  minute, 109,049 of 142,784: −24 %), without the send-window notes 118,082 (−18 %), without the owner reads 133,938
  (−7 %), without the stream's tail read 137,395 (−5 %), without the binding check 139,729 (−3 %); without all six, an
  append with the script's unpacking and reply around it, 74,706 (−48 %). Half of it is the append and the script
  machinery; no one check is more than a quarter. By function, the Lua interpreter and its strings and collector take
  about 52,000 of the 144,590, \`redis.call\`'s own overhead about 28,000, and the commands themselves about 50,000.
- Callbacks: the steady rate sends one callback to every server every 50 ms whatever the rate, so its CPU per message
  carries a cost per second that does not grow with the messages, for both systems. The relay checks, decrypts and
  notes each callback in Redis, and the node that takes the pull lease waits \`SYNC_COALESCE_MS\` (5 ms) so the three
  callbacks share one pull; the peer answers without checking or decrypting it, and one of its servers pulls.
  The fixed-cost rows (\`--scenarios fixed\`, on the system the burst and the steady rate used, after them) measure
  both at rest and on these callbacks alone, with nothing to pull: 5 s each, after 5 s for what the traffic left to
  settle. Their last row divides the nodes' CPU on callbacks alone by the steady rate: the part of the steady CPU per
  message that does not grow with the messages. CPU comes from \`/proc\` in ticks of 10 ms, so a figure under about
  2 ms/s over three processes reads as 0. Records before 2026-12-06 07:30 UTC do not have them.
- The machine: the figures are only comparable within one run. A loaded or shared machine moves both systems, and
  not alike: on 2026-12-07 a run of \`--scenarios burst\` at a load average of 1.2 gave the relay 17,288 msg/s against
  the peer's 26,333 (0.66×), nodes' CPU 51.5 against 44.0 µs (1.2×) and Redis 23.1 against 6.20 µs (3.7×), where the
  record of 04:40 UTC that day, at 2.3, gave 0.90×, 0.85× and 2.8×: between the two the peer's throughput fell by 45 %
  and its nodes' CPU a message rose by 91 %; the relay's fell by 24 % and rose by 38 %.
- Redis Cluster (\`--redis-cluster\`): a local cluster of 3 masters with one replica each (testkit); the relay gets
  \`REDIS_CLUSTER_NODES\`, the peer an ioredis \`Cluster\` under the classic adapter (its \`PUBLISH\` reaches every
  shard). Redis CPU is also given per shard master and for the replicas
  together, to show shards dividing the work; the cluster's total includes the replicas and its own background.

Targets (issue 9), judged on every run: CPU per message over all nodes ≤ 1.0× the peer (burst and steady); Redis
CPU per message ≤ 2× the peer; burst throughput ≥ 1.0× the peer; steady 2,000 msg/s p99 ≤ 20 ms and max ≤ 100 ms;
idle RSS per authenticated gateway at 5,000 per node ≤ 8 KB and a node with no gateways ≤ 70 MB; Redis memory kept
per delivered message ≤ 64 bytes; 19,000 gateways on one node and 50,000 on three connect and are served; a lost
node's 5,000 gateways all served again within 15 s with 0 messages lost.

Each run rewrites its own file (\`single-redis\` or \`redis-cluster\`, with \`-legacy\` after it for \`--delivery
legacy\`; \`.jsonl\` and \`.svg\`) and this page from all of them. The code: \`bench/main.ts\` (flags, phases,
output), \`bench/scenarios/\` (one file per scenario group), \`bench/systems/\` (starting the relay or the peer, the
Redis backend, process sampling), \`bench/drivers/\` (gateway driver processes), \`bench/peer/\` (the Socket.IO
server), \`bench/fake/\` (the fake WeCom host), \`bench/lib/\` (/proc and commandstats parsing, figures, Markdown,
SVG).
`;

/**
 * Redis work on one server against the busiest shard of the cluster, for the relay: what adding shards buys. Both
 * runs' own sizes apply (compare runs of the same sizes).
 */
export function shardSection(single: readonly FigureLine[], cluster: readonly FigureLine[]): string {
  const rows = ['| scenario | one Redis, µs/msg | cluster, every process, µs/msg | busiest master, µs/msg | busiest master ÷ one Redis |', '|---|---:|---:|---:|---:|'];
  for (const f of single.filter((l) => l.metric === 'Redis CPU per message')) {
    const total = cluster.find((l) => l.scenario === f.scenario && l.metric === f.metric)?.relay ?? null;
    const shards = cluster.filter((l) => l.scenario === f.scenario && /^Redis CPU per message, shard \d+ master$/.test(l.metric)).map((l) => l.relay ?? 0);
    const busiest = shards.length ? Math.max(...shards) : null;
    rows.push(`| ${f.scenario} | ${formatNumber(f.relay)} | ${formatNumber(total)} | ${formatNumber(busiest)} | ${formatRatio(ratioOf(busiest, f.relay))} |`);
  }
  return ['## Redis work over shards (relay)', '', rows.join('\n'), ''].join('\n');
}

/** Writes the run's files and regenerates the document from all runs present in `dir`. */
export function writeRun(docsDir: string, header: RunHeader, lines: readonly FigureLine[]): { md: string; jsonl: string; svg: string } {
  const dir = join(docsDir, 'benchmarks');
  mkdirSync(dir, { recursive: true });
  const base = runFile(header);
  const jsonl = join(dir, `${base}.jsonl`);
  const svg = join(dir, `${base}.svg`);
  writeFileSync(jsonl, toJsonLines(header, lines));
  writeFileSync(svg, ratioChart(lines, `${header.mode === 'single' ? 'One Redis' : 'Redis Cluster'}${header.delivery === 'legacy' ? ', legacy delivery' : ''}: relay ÷ Socket.IO peer`) + '\n');
  return { md: renderDocumentTo(docsDir), jsonl, svg };
}

/** Rewrites `<docsDir>/benchmarks.md` from the run files present; returns its path. */
export function renderDocumentTo(docsDir: string): string {
  const md = join(docsDir, 'benchmarks.md');
  writeFileSync(md, renderDocument(join(docsDir, 'benchmarks')));
  return md;
}

/** docs/benchmarks.md from the run files in `dir`. */
export function renderDocument(dir: string): string {
  const sections: string[] = [INTRO];
  const runs = new Map<string, FigureLine[]>();
  for (const run of RUNS) {
    const path = join(dir, `${run.file}.jsonl`);
    if (!existsSync(path)) continue;
    const { header, lines } = fromJsonLines(readFileSync(path, 'utf8'));
    runs.set(run.file, lines);
    sections.push(runSection(run.title, header, lines, `benchmarks/${run.file}.svg`));
  }
  const single = runs.get('single-redis');
  const cluster = runs.get('redis-cluster');
  if (single && cluster) sections.push(shardSection(single, cluster));
  return sections.join('\n');
}
