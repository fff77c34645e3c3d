import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, TSX_BIN, childEnv } from '@wecom-relay/testkit';

const run = promisify(execFile);

/** Runs `pnpm demo` as a newcomer would, and returns what it printed and its exit code. */
async function demo(): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(TSX_BIN, ['scripts/demo.ts'], {
      cwd: REPO_ROOT,
      // The demo picks its ports as the tests do: from this worker's stretch, never the other worker's.
      env: childEnv({ VITEST_POOL_ID: process.env.VITEST_POOL_ID }),
      // The demo bounds each of its own waits (15 s); this only stops a demo that hangs outright.
      timeout: 100_000,
      killSignal: 'SIGTERM',
      maxBuffer: 4 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** The text after a step's headline: the event or frame the demo printed for it. */
function detailOf(stdout: string, headline: string): string {
  const at = stdout.indexOf(`▶ ${headline}`);
  if (at === -1) return '';
  const next = stdout.indexOf('\n▶ ', at + 1);
  return stdout.slice(at, next === -1 ? undefined : next);
}

describe('pnpm demo', () => {
  it(
    'its SDK gateway receives the customer text and image, its replies reach WeCom, and it exits 0',
    async () => {
      const result = await demo();
      expect(result.code, `demo failed:\n${result.stderr}\n${result.stdout.slice(-3000)}`).toBe(0);
      const out = result.stdout;
      expect(out).toContain('connected (SDK @wecom-relay/gateway)');
      // What the gateway app's handlers were given, as the SDK's typed events.
      expect(detailOf(out, 'Gateway learned the binding')).toContain('"externalUserId":"wmDemoCustomer0001"');
      const text = detailOf(out, 'Gateway received (inbound)');
      expect(text).toContain('"content":"你好! Is anyone there?"');
      expect(detailOf(out, 'Gateway received the image inlined')).toMatch(/"msgType":"image".*"mediaMime":"image\/png"/);
      // The replies as WeCom received them.
      expect(detailOf(out, 'WeCom received (kf/send_msg)')).toContain('"content":"Hello from the demo gateway 👋"');
      expect(detailOf(out, 'WeCom received (media/upload + kf/send_msg)')).toContain('"msgtype":"image"');
      expect(out).toContain('▶ Demo complete');
    },
    120_000,
  );
});
