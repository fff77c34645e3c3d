import { describe, expect, it } from 'vitest';
import { bindByScan } from './support/binding-steps.js';
import { newUserId, useRelayStack } from './support/relay-stack.js';
import { SyncReplayProxy } from './support/sync-replay-proxy.js';

let proxy: SyncReplayProxy | undefined;
const stack = useRelayStack({
  apiProxy: async (fakeUrl) => (proxy = await SyncReplayProxy.start(fakeUrl)),
});

describe('a message WeCom shows twice', () => {
  it('reaches the gateway once', async () => {
    const s = stack();
    if (!proxy) throw new Error('the proxy did not start');
    const gw = await s.gateway();
    const user = newUserId();
    await bindByScan(s, gw, user);
    const first = await s.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'only once, please' });
    await gw.waitForInbound((m) => m.id === first.msgid);

    proxy.replayInNextSync(first.msgid);
    const next = await s.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'next' });
    await gw.waitForInbound((m) => m.id === next.msgid);

    // The repeat really was in the answer that carried the next message, ahead of it.
    expect(proxy.injected).toBe(1);
    expect(gw.inbound().filter((m) => m.id === first.msgid)).toHaveLength(1);
  });

  it('after the user moved to another gateway, reaches only the gateway it went to the first time', async () => {
    const s = stack();
    if (!proxy) throw new Error('the proxy did not start');
    const first = await s.gateway();
    const second = await s.gateway();
    const user = newUserId();
    await bindByScan(s, first, user);
    const early = await s.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'for the first gateway' });
    await first.waitForInbound((m) => m.id === early.msgid);
    await bindByScan(s, second, user);

    const injectedBefore = proxy.injected;
    proxy.replayInNextSync(early.msgid);
    const later = await s.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'for the second' });
    await second.waitForInbound((m) => m.id === later.msgid);

    expect(proxy.injected).toBe(injectedBefore + 1);
    expect(second.inbound().map((m) => m.id)).not.toContain(early.msgid);
    expect(first.inbound().filter((m) => m.id === early.msgid)).toHaveLength(1);
  });

  it('passes media downloads through unchanged', async () => {
    const s = stack();
    const gw = await s.gateway();
    const user = newUserId();
    await bindByScan(s, gw, user);
    const bytes = Buffer.from('#!AMR\n'.padEnd(64, '\u0001'), 'latin1');
    const sent = await s.fake.control.customerMessage({
      external_userid: user,
      msgtype: 'voice',
      media_base64: bytes.toString('base64'),
      media_mime: 'voice/amr',
    });
    const message = await gw.waitForInbound((m) => m.id === sent.msgid);
    expect(message.mediaData).toBe(bytes.toString('base64'));
    expect(message.mediaMime).toBe('voice/amr');
  });
});
