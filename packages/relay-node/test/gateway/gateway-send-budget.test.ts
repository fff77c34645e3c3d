import { afterEach, describe, expect, it } from 'vitest';
import { SendBudget, isGatewaySessionClosedError } from '../../src/gateway/index.js';
import { TestClient, cleanup, startServer, until } from './gateway-harness.js';

afterEach(cleanup);

describe('node-wide send budget', () => {
  it('pauses a gateway over its share, then closes it 4009; frames it was not written are refused, not lost', async () => {
    const budget = new SendBudget({ totalBytes: 1024 * 1024, graceMs: 300, checkEveryMs: 50 });
    // The per-socket cap is set out of the way so the budget is what acts.
    const { url, app, observer } = await startServer({ sendBudget: budget, maxBufferedBytes: 512 * 1024 * 1024 });
    const client = await TestClient.session(url, 'gw-slow');
    const session = app.sessions[0]!;
    client.ws.pause();

    const chunk = 'z'.repeat(512 * 1024);
    const outcomes: Array<'written' | 'refused' | 'other'> = [];
    const sends: Array<Promise<void>> = [];
    for (let i = 0; i < 64; i++) {
      const send = session
        .send({ type: 'inbound', id: `m-${i}`, externalUserId: 'wm-user', msgType: 'text', content: chunk, timestamp: 1, wecomMsgType: 'text' })
        .then(
          () => void outcomes.push('written'),
          (err: unknown) => void outcomes.push(isGatewaySessionClosedError(err) ? 'refused' : 'other'),
        );
      sends.push(send);
    }
    await until(() => observer.slowCloses.length > 0, 'the budget to close the gateway');
    expect(observer.slowCloses).toEqual(['over_share']);
    client.ws.resume();
    expect((await client.closed).code).toBe(4009);
    await Promise.all(sends);

    const received = (client as unknown as { frames: Array<{ id?: string }> }).frames.filter((f) => f.id?.startsWith('m-'));
    const written = outcomes.filter((o) => o === 'written').length;
    expect(outcomes).not.toContain('other');
    // Paused: most frames were never written, and every frame reported written did arrive.
    expect(outcomes.filter((o) => o === 'refused').length).toBeGreaterThan(32);
    expect(received.length).toBe(written);
    expect(budget.usedBytes).toBe(0);
    await until(() => app.closes.length === 1, 'onSessionClose');
    expect(app.closes[0]!.code).toBe(4009);
  });

  it('leaves a gateway that keeps reading alone, however much it is sent', async () => {
    const budget = new SendBudget({ totalBytes: 256 * 1024, graceMs: 200, checkEveryMs: 20 });
    const { url, app, observer } = await startServer({ sendBudget: budget });
    const client = await TestClient.session(url, 'gw-reading');
    const session = app.sessions[0]!;
    const chunk = 'y'.repeat(128 * 1024);
    for (let i = 0; i < 40; i++) {
      await session.send({ type: 'inbound', id: `r-${i}`, externalUserId: 'wm-user', msgType: 'text', content: chunk, timestamp: 1, wecomMsgType: 'text' });
    }
    for (let i = 0; i < 40; i++) expect(await client.next()).toMatchObject({ id: `r-${i}` });
    expect(observer.slowCloses).toEqual([]);
    expect(session.isOpen).toBe(true);
  });
});
