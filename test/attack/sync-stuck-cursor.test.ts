import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { bindByScan } from '../e2e/support/binding-steps.js';
import { newUserId, useRelayStack } from '../e2e/support/relay-stack.js';

// Only callbacks cause pulls here, so every sync_msg call the fake counts comes from the loop under test.
const stack = useRelayStack({ relayEnv: { SYNC_POLL_INTERVAL_MS: String(3_600_000) } });

async function stuckPages(s: ReturnType<typeof stack>): Promise<number> {
  const text = await (await fetch(s.relay.metricsUrl)).text();
  const line = text.split('\n').find((l) => l.startsWith('relay_sync_cursor_stuck_total'));
  return line ? Number(line.split(' ').pop()) : 0;
}

async function faultsLeft(s: ReturnType<typeof stack>): Promise<number> {
  return (await s.fake.control.faultsPending()).reduce((n, f) => n + (f.times ?? 1), 0);
}

describe('attack: WeCom keeps answering has_more=1 with the same cursor', () => {
  it('backs off instead of spinning, and delivers once WeCom moves on', async () => {
    const s = stack();
    const gw = await s.gateway();
    const user = newUserId();
    await bindByScan(s, gw, user);
    const before = await stuckPages(s);
    await s.fake.control.faults({ path: 'kf/sync_msg', stuckCursor: true, times: 50 });
    const message = await s.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'behind a stuck cursor' });

    // Four stuck pages take at least 0.5 + 1 + 2 s of waiting; the bound is only a safety net.
    const until = Date.now() + 30_000;
    while ((await stuckPages(s)) - before < 4 && Date.now() < until) await sleep(100);
    expect((await stuckPages(s)) - before).toBeGreaterThanOrEqual(4);
    // A second later the loop is in its next wait (4-8 s): at most one more call. Spinning would have used all 50.
    await sleep(1_000);
    const left = await faultsLeft(s);
    console.log(`stuck cursor: ${(await stuckPages(s)) - before} stuck pages answered, ${left} of 50 stuck answers left unused`);
    expect(left).toBeGreaterThanOrEqual(44);

    await s.fake.control.clearFaults();
    await gw.waitForInbound((m) => m.id === message.msgid, 30_000);
    expect(gw.inbound().filter((m) => m.id === message.msgid)).toHaveLength(1);
  }, 90_000);
});
