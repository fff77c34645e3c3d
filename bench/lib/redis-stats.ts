/** Redis's own view of its work: `INFO commandstats` and the server's process id, for per-message figures. */
import type { Redis } from 'ioredis';

/** Calls and CPU microseconds of one command. */
export interface CommandStat {
  calls: number;
  usec: number;
}

/** Parses `INFO commandstats` (`cmdstat_xadd:calls=3,usec=25,usec_per_call=8.33,...`) into command → stat. */
export function parseCommandStats(info: string): Map<string, CommandStat> {
  const out = new Map<string, CommandStat>();
  for (const line of info.split(/\r?\n/)) {
    const m = /^cmdstat_([^:]+):(.*)$/.exec(line.trim());
    if (!m) continue;
    const fields = Object.fromEntries(m[2]!.split(',').map((kv) => kv.split('=') as [string, string]));
    out.set(m[1]!, { calls: Number(fields.calls ?? 0), usec: Number(fields.usec ?? 0) });
  }
  return out;
}

/** Adds up command stats (several shards, or several samples). */
export function sumCommandStats(all: readonly Map<string, CommandStat>[]): Map<string, CommandStat> {
  const out = new Map<string, CommandStat>();
  for (const stats of all) {
    for (const [cmd, s] of stats) {
      const prev = out.get(cmd) ?? { calls: 0, usec: 0 };
      out.set(cmd, { calls: prev.calls + s.calls, usec: prev.usec + s.usec });
    }
  }
  return out;
}

/** after − before, per command; commands with no new calls are left out. */
export function diffCommandStats(before: Map<string, CommandStat>, after: Map<string, CommandStat>): Map<string, CommandStat> {
  const out = new Map<string, CommandStat>();
  for (const [cmd, a] of after) {
    const b = before.get(cmd) ?? { calls: 0, usec: 0 };
    if (a.calls > b.calls) out.set(cmd, { calls: a.calls - b.calls, usec: a.usec - b.usec });
  }
  return out;
}

// The bench's own INFO/CONFIG/FLUSHALL, and replication's REPLCONF between a master and its replica.
const BENCH_COMMANDS = new Set(['info', 'config', 'flushall', 'replconf']);

/** Commands the system sent (the bench's own and replication's left out). */
export function systemCalls(delta: Map<string, CommandStat>): number {
  let calls = 0;
  for (const [cmd, st] of delta) if (!BENCH_COMMANDS.has(cmd.split('|')[0]!)) calls += st.calls;
  return calls;
}

/** "xadd 1.00/msg 8µs, evalsha 2.00/msg 31µs": the commands behind a figure, busiest first. */
export function describePerMessage(delta: Map<string, CommandStat>, messages: number, top = 6): string {
  return [...delta]
    .filter(([cmd]) => !BENCH_COMMANDS.has(cmd.split('|')[0]!))
    .sort((a, b) => b[1].usec - a[1].usec)
    .slice(0, top)
    .map(([cmd, s]) => `${cmd} ${(s.calls / messages).toFixed(2)}/msg ${(s.usec / messages).toFixed(1)}µs`)
    .join(', ');
}

/** The redis-server's pid (INFO server), so its CPU is read from /proc like every other process. */
export async function redisPid(client: Redis): Promise<number> {
  const m = /process_id:(\d+)/.exec(await client.info('server'));
  if (!m) throw new Error('INFO server carries no process_id');
  return Number(m[1]);
}

/** The server's commandstats now. */
export async function commandStats(client: Redis): Promise<Map<string, CommandStat>> {
  return parseCommandStats(await client.info('commandstats'));
}

/**
 * INFO stats total_reads_processed: read events on client connections. A client's round trip is one (a pipeline, or
 * commands that arrive together, count once); the commands a script runs are none.
 */
export async function readsProcessed(client: Redis): Promise<number> {
  const m = /total_reads_processed:(\d+)/.exec(await client.info('stats'));
  return m ? Number(m[1]) : Number.NaN;
}

/**
 * Bytes Redis holds for its data, for memory kept per message: used_memory less the replication backlog and the
 * replicas' output buffers. Those two are rings of a configured size (repl-backlog-size, 1 MB by default) that any
 * writes fill, whatever they keep: a master of a Redis Cluster whose backlog was still filling when a run began grew by
 * up to that size during it, which a 200,000-message burst read as 6 bytes per message. A server without replicas has
 * neither, so this is its used_memory.
 */
export async function usedMemory(client: Redis): Promise<number> {
  return dataMemory(await client.info('memory'));
}

/** {@link usedMemory} from the text of `INFO memory`. */
export function dataMemory(info: string): number {
  const field = (name: string): number => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? Number.NaN);
  // Absent before Redis 7: then there is nothing to take away.
  const rings = (field('mem_replication_backlog') || 0) + (field('mem_clients_slaves') || 0);
  return field('used_memory') - rings;
}

/** The server process's CPU time so far (user + system, seconds), from the text of `INFO cpu`. */
export function serverCpuSeconds(info: string): number {
  const field = (name: string): number => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? Number.NaN);
  return field('used_cpu_user') + field('used_cpu_sys');
}
