import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ManagedProcess, childEnv } from '@wecom-relay/testkit';
import { eventually } from './support/eventually.js';
import { newUserId, uid, useRelayStack } from './support/relay-stack.js';
import {
  SdkApp,
  TappedSockets,
  expectExactlyOnceInOrder,
  waitForLogs,
  type AppLogEntry,
  type WrittenMessage,
} from './support/sdk-app.js';

/** Gateways built on the SDK (@wecom-relay/gateway) against a real relay node and the fake WeCom. */
describe('gateway SDK against a relay node', () => {
  const stack = useRelayStack();
  const apps: SdkApp[] = [];
  const work = mkdtempSync(join(tmpdir(), 'sdk-e2e-'));
  afterAll(async () => {
    await Promise.allSettled(apps.map((a) => a.gateway.close()));
    rmSync(work, { recursive: true, force: true });
  });

  function app(options: Partial<ConstructorParameters<typeof SdkApp>[0]> = {}): SdkApp {
    const gatewayId = options.gatewayId ?? uid('sdk');
    const created = new SdkApp({ url: stack().relay.wsUrl, gatewayId, authToken: stack().tokenFor(gatewayId), ...options });
    apps.push(created);
    return created;
  }

  async function write(user: string, content: string, seq: number): Promise<WrittenMessage> {
    const { msgid } = await stack().fake.control.customerMessage({ external_userid: user, msgtype: 'text', content });
    return { msgid, user, seq };
  }

  it('binds a user, hands the message to the handler and the reply resolves with the msgid WeCom gave it', async () => {
    const echo = app();
    const replies: string[] = [];
    echo.gateway.on('inbound', async (message, delivery) => {
      const result = await delivery.reply(`echo: ${message.content}`);
      replies.push(result.msgid ?? '');
    });
    await echo.gateway.start();
    const user = newUserId();
    await echo.bind(stack().fake.control, user);
    const written = await write(user, 'hello relay', 0);
    await waitForLogs([written], () => echo.log, 15_000);
    expect(echo.log).toEqual([{ msgid: written.msgid, user, content: 'hello relay' }]);
    const sent = await eventually(async () => {
      const got = (await stack().fake.control.sent({ touser: user })).filter((m) => m.content === 'echo: hello relay');
      expect(got).toHaveLength(1);
      return got[0]!;
    });
    await eventually(() => expect(replies).toEqual([sent.msgid]));
  });

  it('a handler that throws gets the message again; the application log has every message once, in order', async () => {
    let n = 0;
    // Every third message fails on its first attempt.
    const flaky = app({ failFirstAttempt: () => ++n % 3 === 0 });
    await flaky.gateway.start();
    const users = [newUserId(), newUserId()];
    for (const user of users) await flaky.bind(stack().fake.control, user);
    const written: WrittenMessage[] = [];
    for (let i = 0; i < 12; i++) {
      const user = users[i % 2]!;
      written.push(await write(user, `flaky ${i}`, Math.floor(i / 2)));
    }
    await waitForLogs(written, () => flaky.log, 30_000);
    expect(flaky.failures, 'handler failures the test planted').toBeGreaterThan(0);
    expectExactlyOnceInOrder(written, flaky.log);
  });

  it('the connection lost while the handler runs: the relay sends the message again and the SDK drops the repeat', async () => {
    const tap = new TappedSockets();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let holding = false;
    const slow = app({
      sdk: { WebSocket: tap.WebSocket },
      beforeLog: async (m) => {
        if (m.content !== 'slow') return;
        holding = true;
        await gate;
      },
    });
    await slow.gateway.start();
    const user = newUserId();
    await slow.bind(stack().fake.control, user);
    const written = [await write(user, 'before', 0)];
    await waitForLogs(written, () => slow.log, 15_000);
    written.push(await write(user, 'slow', 1));
    await eventually(() => expect(holding).toBe(true));
    const opens = slow.opens;
    tap.cut();
    await eventually(() => expect(slow.opens).toBe(opens + 1));
    // Give the relay time to send the unacknowledged message again on the new connection.
    await sleep(500);
    release();
    written.push(await write(user, 'after', 2));
    await waitForLogs(written, () => slow.log, 20_000);
    await sleep(300);
    expectExactlyOnceInOrder(written, slow.log);
    expect(slow.gateway.duplicatesDropped, 'the repeat the relay sent was dropped by the SDK').toBeGreaterThanOrEqual(1);
  });

  it('a delivery_ack lost on the way: the SDK resumes after it, so the relay does not send the message again', async () => {
    const tap = new TappedSockets();
    const lossy = app({
      sdk: { WebSocket: tap.WebSocket },
      beforeLog: (m) => {
        if (m.content === 'ack lost' && m.deliveryId) tap.loseAckOf.add(m.deliveryId);
      },
    });
    await lossy.gateway.start();
    const user = newUserId();
    await lossy.bind(stack().fake.control, user);
    const opens = lossy.opens;
    const written = [await write(user, 'ack lost', 0)];
    await waitForLogs(written, () => lossy.log, 15_000);
    await eventually(() => expect(lossy.opens, 'reconnected after the cut').toBe(opens + 1));
    written.push(await write(user, 'next', 1));
    await waitForLogs(written, () => lossy.log, 15_000);
    await sleep(300);
    expectExactlyOnceInOrder(written, lossy.log);
    expect(lossy.gateway.duplicatesDropped, 'messages the relay sent again (resume_after should have prevented it)').toBe(0);
  });

  it('the example app (examples/cli-gateway) prints the message and answers with an echo', async () => {
    const gatewayId = uid('cli');
    // Bound first by an in-process gateway of the same id (bindings stay with the gateway id).
    const binder = app({ gatewayId });
    await binder.gateway.start();
    const user = newUserId();
    await binder.bind(stack().fake.control, user);
    await binder.gateway.close();
    const example = new ManagedProcess({
      name: 'cli-gateway',
      script: 'examples/cli-gateway/main.ts',
      env: childEnv({
        RELAY_URL: stack().relay.wsUrl,
        GATEWAY_ID: gatewayId,
        GATEWAY_TOKEN: stack().tokenFor(gatewayId),
        STATE_DIR: join(work, `${gatewayId}-state`),
      }),
    });
    try {
      await example.waitForLine((l) => l === '[state] open', 60_000);
      await write(user, 'hi example', 0);
      await example.waitForLine((l) => l === `[message] ${user}: hi example`, 20_000);
      const replied = await example.waitForLine((l) => l.startsWith(`[replied] ${user}`), 20_000);
      const sent = (await stack().fake.control.sent({ touser: user })).filter((m) => m.content === 'echo: hi example');
      expect(sent).toHaveLength(1);
      expect(replied).toBe(`[replied] ${user} (WeCom msgid ${sent[0]!.msgid})`);
    } finally {
      await example.stop();
    }
  }, 120_000);

  it('an app process SIGKILLed mid-message and started again sees every message exactly once (file store)', async () => {
    const gatewayId = uid('sdk-child');
    const appLog = join(work, `${gatewayId}.log`);
    const storeDir = join(work, `${gatewayId}-store`);
    const start = (holdText: string) =>
      new ManagedProcess({
        name: 'sdk-child',
        script: 'test/e2e/support/sdk-child-gateway.ts',
        env: childEnv({
          RELAY_URL: stack().relay.wsUrl,
          GATEWAY_ID: gatewayId,
          GATEWAY_TOKEN: stack().tokenFor(gatewayId),
          STORE_DIR: storeDir,
          APP_LOG: appLog,
          HOLD_TEXT: holdText,
        }),
      });
    const readLog = (): AppLogEntry[] => {
      try {
        return readFileSync(appLog, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as AppLogEntry);
      } catch {
        return [];
      }
    };

    // Bind the user with an in-process SDK gateway of the same id, then hand the id to the child.
    const binder = app({ gatewayId });
    await binder.gateway.start();
    const user = newUserId();
    await binder.bind(stack().fake.control, user);
    await binder.gateway.close();

    let child = start('HOLD');
    try {
      await child.waitForLine((l) => l === 'gateway open', 60_000);
      const written: WrittenMessage[] = [];
      written.push(await write(user, 'first', 0), await write(user, 'second', 1));
      await waitForLogs(written, readLog, 20_000);
      const held = await write(user, 'third HOLD', 2);
      written.push(held);
      await child.waitForLine((l) => l === `handling ${held.msgid}`, 20_000);
      // Killed while its handler is in the middle of the message.
      child.kill('SIGKILL');
      await child.waitExit();
      written.push(await write(user, 'fourth, while the app is down', 3));

      child = start('');
      await child.waitForLine((l) => l === 'gateway open', 60_000);
      written.push(await write(user, 'fifth', 4));
      await waitForLogs(written, readLog, 30_000);
      expectExactlyOnceInOrder(written, readLog());
    } finally {
      await child.stop();
    }
  }, 180_000);
});
