import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { RawWebSocket } from '@wecom-relay/testkit';
import { useRelayStack } from '../e2e/support/relay-stack.js';
import { RssWatch, metricValue, mib, quietRss, relayProcessPid } from './support/node-probes.js';

const MiB = 1024 * 1024;
const PER_SOURCE = 20;
const stack = useRelayStack({ relayEnv: { MAX_PENDING_SOCKETS_PER_ADDRESS: String(PER_SOURCE), LOG_LEVEL: 'warn' } });

/** Opens `count` sockets that each send most of an 8 MiB first frame and then stall, never closing themselves. */
async function flood(port: number, count: number, payload: Buffer): Promise<Array<{ raw: RawWebSocket; goneAfterMs: Promise<number> }>> {
  const opened = await Promise.all(Array.from({ length: count }, () => RawWebSocket.open(port)));
  const header = RawWebSocket.frameHeader(8 * MiB);
  return opened.map((raw) => {
    const started = performance.now();
    raw.socket.write(header);
    raw.socket.write(payload);
    return { raw, goneAfterMs: raw.closed.then(() => performance.now() - started) };
  });
}

describe('pre-auth flood', () => {
  it('keeps node memory flat and drops every stalled, idle or refused socket within 10 s', async () => {
    const s = stack();
    const pid = relayProcessPid(s.relay.pid);
    const port = Number(new URL(s.relay.wsUrl).port);
    // Warm the socket paths once so the baseline includes their code.
    const warm = await s.gateway();
    await warm.close();
    const baseline = await quietRss(pid);
    const watch = new RssWatch(pid);

    // One payload buffer shared by every socket, so the test process does not hold 40 copies.
    const payload = Buffer.alloc(Math.floor(7.5 * MiB), 0x20);
    const accepted = await flood(port, PER_SOURCE, payload);
    // Sockets that never say anything fill this source's quota until the hello timeout ends them...
    const idle = await Promise.all(
      Array.from({ length: PER_SOURCE }, async () => {
        const raw = await RawWebSocket.open(port);
        const started = performance.now();
        return { raw, goneAfterMs: raw.closed.then(() => performance.now() - started) };
      }),
    );
    // ...so these are refused with 4008 right after the upgrade, and keep sending all the same.
    const refused = await flood(port, PER_SOURCE, payload);
    const all = [...accepted, ...idle, ...refused];

    let timer: NodeJS.Timeout | undefined;
    const gone: Array<number | undefined> = await Promise.race([
      Promise.all(all.map((a) => a.goneAfterMs)),
      new Promise<Array<number | undefined>>((resolve) => {
        timer = setTimeout(() => resolve(all.map(() => undefined)), 10_000);
      }),
    ]);
    clearTimeout(timer);
    const settled = await Promise.all(all.map((a) => Promise.race([a.goneAfterMs, Promise.resolve(undefined)])));
    const peak = watch.stop();
    for (const a of all) a.raw.destroy();

    const goneCount = settled.filter((ms) => ms !== undefined).length;
    const slowest = Math.max(...settled.map((ms) => ms ?? Number.POSITIVE_INFINITY));
    const growth = peak - baseline;
    console.log(
      `[attack] pre-auth flood: ${PER_SOURCE} sockets sent 7.5 MiB of an 8 MiB first frame and stalled, ${PER_SOURCE} idle, ${PER_SOURCE} refused 4008 sent the same: ` +
        `node RSS +${mib(growth)} MiB (baseline ${mib(baseline)}, peak ${mib(peak)}); gone within 10 s: ${goneCount}/${all.length}, slowest ${Number.isFinite(slowest) ? Math.round(slowest) : '>10000'} ms`,
    );

    expect(gone.every((ms) => ms !== undefined)).toBe(true);
    expect(growth).toBeLessThanOrEqual(48 * MiB);
    expect(await metricValue(s.relay.metricsUrl, 'relay_gateway_sockets_refused_total', 'reason="hello_too_large"')).toBeGreaterThanOrEqual(PER_SOURCE);
    expect(await metricValue(s.relay.metricsUrl, 'relay_gateway_sockets_refused_total', 'reason="per_source_limit"')).toBeGreaterThanOrEqual(PER_SOURCE);

    // Still serving: health answers and a gateway gets in.
    const res = await fetch(`${s.relay.httpUrl}/healthz`);
    expect(res.status).toBe(200);
    const after = await s.gateway();
    expect(after.isConnected).toBe(true);
  }, 90_000);
});
