/**
 * What routing a page costs Redis, in instructions: `bench/route-profile.ts` run against a redis-server under valgrind's
 * callgrind, once with one page and once with `--pages`, so the difference is what the pages beyond the first cost, the
 * setup (bindings, owners) and the warm-up left out. Timing the server (INFO cpu) varies by a fifth from run to run on a
 * shared 2-core machine; the count varies by a few per cent (the messages' minute decides how deep the decision trees
 * are, which route-profile keeps within one minute), so a change to a route script is seen to a few per cent.
 * Needs valgrind (Debian's package); callgrind slows the server about fifty times, so the default run is small.
 * It then lists the same difference per function, self and inclusive. Debian's redis-server is stripped, so most of its
 * functions have no name there: a redis-server built from its source (`make MALLOC=libc OPTIMIZATION=-O2
 * redis-server`, about 158,000 instructions a message against Debian's 155,000) first on PATH names them all.
 *
 *   pnpm tsx bench/route-instructions.ts [--pages 5] [--page 1000] [--users 3000] [--top 25]
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { freePort, waitForPing } from '@wecom-relay/testkit';
import { callgrindTotal, inclusiveRows, rowsBeyond } from './lib/callgrind.js';

const { values: flags } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    pages: { type: 'string', default: '5' },
    page: { type: 'string', default: '1000' },
    users: { type: 'string', default: '3000' },
    top: { type: 'string', default: '25' },
  },
});
const PAGES = Number(flags.pages);
if (!(PAGES >= 2)) throw new Error('--pages must be 2 or more: the first page is the baseline');

for (const tool of ['valgrind', 'callgrind_control', 'callgrind_annotate']) {
  if (spawnSync(tool, ['--help'], { stdio: 'ignore' }).error) throw new Error(`${tool} not found: install valgrind (apt-get install valgrind)`);
}

const dir = mkdtempSync(join(tmpdir(), 'route-instructions-'));
const port = await freePort();
const server = spawn('valgrind', ['--tool=callgrind', `--callgrind-out-file=${join(dir, 'cg.out')}`, 'redis-server', '--port', String(port), '--save', '', '--appendonly', 'no'], {
  stdio: 'ignore',
});
const url = `redis://127.0.0.1:${port}`;
let redis: Redis | null = null;
try {
  // Under callgrind the server takes seconds to start.
  if (!(await waitForPing('127.0.0.1', port, { deadlineMs: 60_000, isGone: () => server.exitCode !== null }))) throw new Error('redis-server under valgrind did not start');
  redis = new Redis(url);
  const one = await counted(redis, 1);
  const many = await counted(redis, PAGES);
  const messages = (PAGES - 1) * Number(flags.page);
  console.log(`${messages} messages (pages 2 to ${PAGES} of ${flags.page}, ${flags.users} users)`);
  console.log(`Redis instructions ${Math.round((many.total - one.total) / messages).toLocaleString('en')} per message (callgrind Ir)`);
  // Per function, what the pages beyond the first cost a message (a stripped server names few of them: see above).
  const rows = (file: string, inclusive: boolean) =>
    inclusiveRows(spawnSync('callgrind_annotate', [`--inclusive=${inclusive ? 'yes' : 'no'}`, '--auto=no', '--threshold=100', file], { encoding: 'utf8', maxBuffer: 64 << 20 }).stdout);
  for (const inclusive of [false, true]) {
    console.log(`functions, ${inclusive ? 'inclusive' : 'self'}, instructions a message of pages 2 to ${PAGES}:`);
    for (const row of rowsBeyond(rows(one.file, inclusive), rows(many.file, inclusive), messages).slice(0, Number(flags.top))) {
      console.log(`  ${row.function.padEnd(40)} ${Math.round(row.instructions).toLocaleString('en')}`);
    }
  }
} finally {
  redis?.disconnect();
  server.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}

/** Instructions the server ran while route-profile routed `pages` pages (counters zeroed before, dumped after). */
async function counted(client: Redis, pages: number): Promise<{ total: number; file: string }> {
  const pid = String(server.pid);
  await client.flushall();
  spawnSync('callgrind_control', ['--zero', pid], { stdio: 'ignore' });
  const run = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./route-profile.ts', import.meta.url)), '--pages', String(pages), '--page', flags.page!, '--users', flags.users!], {
    env: { ...process.env, REDIS_URL: url },
    encoding: 'utf8',
  });
  if (run.status !== 0) throw new Error(`route-profile failed: ${run.stderr}`);
  const before = new Set(readdirSync(dir));
  spawnSync('callgrind_control', ['--dump', pid], { stdio: 'ignore' });
  const file = readdirSync(dir).find((f) => !before.has(f));
  if (!file) throw new Error('callgrind wrote no dump');
  return { total: callgrindTotal(readFileSync(join(dir, file), 'utf8')), file: join(dir, file) };
}
