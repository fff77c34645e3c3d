import { describe, expect, it } from 'vitest';
import { RawWebSocket } from '@wecom-relay/testkit';
import { useRelayStack } from '../e2e/support/relay-stack.js';
import { HealthProbe, metricValue } from './support/node-probes.js';

const MiB = 1024 * 1024;
const stack = useRelayStack({ relayEnv: { LOG_LEVEL: 'warn' } });

/** A hello padded with numbered keys up to `bytes` (4 MiB holds ~360k keys). */
function manyKeysHello(bytes: number): { frame: Buffer; keys: number } {
  const parts = ['{"type":"hello","gateway_id":"gw-hostile","auth_token":"x"'];
  let size = parts[0]!.length;
  for (let i = 0; size < bytes - 16; i++) {
    const part = `,"k${i}":${i}`;
    parts.push(part);
    size += part.length;
  }
  parts.push('}');
  return { frame: Buffer.from(parts.join('')), keys: parts.length - 2 };
}

/** A hello whose one field nests arrays `depth` deep. */
function deepHello(depth: number): Buffer {
  return Buffer.from(`{"type":"hello","gateway_id":"gw-deep","auth_token":"x","x":${'['.repeat(depth)}${']'.repeat(depth)}}`);
}

/** Sends one whole frame on a fresh socket and waits until the node has ended the socket. */
async function sendOnce(port: number, frame: Buffer): Promise<void> {
  const raw = await RawWebSocket.open(port);
  raw.socket.write(RawWebSocket.frameHeader(frame.length));
  raw.socket.write(frame);
  await raw.closedWithin(15_000);
  raw.destroy();
}

describe('hostile hellos', () => {
  it('keeps /healthz answering while several sockets send huge and deeply nested hellos, refusing the huge ones unread', async () => {
    const s = stack();
    const port = Number(new URL(s.relay.wsUrl).port);
    const { frame: huge, keys } = manyKeysHello(4 * MiB);
    const deep = deepHello(2 * MiB);
    const smallMany = manyKeysHello(7 * 1024).frame;
    const smallDeep = deepHello(3_000);

    const probe = new HealthProbe(s.relay.httpUrl, 5);
    await new Promise((resolve) => setTimeout(resolve, 200));
    for (let round = 0; round < 3; round++) {
      await Promise.all([
        ...Array.from({ length: 4 }, () => sendOnce(port, huge)),
        ...Array.from({ length: 2 }, () => sendOnce(port, deep)),
        // Hellos small enough to be read: parsed, refused, and cheap.
        ...Array.from({ length: 20 }, (_, i) => sendOnce(port, i % 2 === 0 ? smallMany : smallDeep)),
      ]);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    const { count, worstMs, p50Ms } = await probe.stop();
    console.log(
      `[attack] hostile hellos: 3 rounds of 4 × 4 MiB hellos (${keys} keys each), 2 × 2M-deep nesting, 20 small hostile hellos: ` +
        `/healthz worst ${Math.round(worstMs)} ms, median ${p50Ms.toFixed(1)} ms over ${count} probes`,
    );

    expect(probe.failures).toEqual([]);
    expect(count).toBeGreaterThan(20);
    expect(await metricValue(s.relay.metricsUrl, 'relay_gateway_sockets_refused_total', 'reason="hello_too_large"')).toBeGreaterThanOrEqual(18);
    const gw = await s.gateway();
    expect(gw.isConnected).toBe(true);
  }, 120_000);
});
