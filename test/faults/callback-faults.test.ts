import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { useFaultCluster, type FaultCluster } from './support/fault-cluster.js';
import { FAULT_TEST_TIMEOUT_MS, faultProfile } from './support/fault-profile.js';
import { MIXED_GATEWAYS, expectNoMessageLost, finishScenario, openGateways } from './support/fault-scenario.js';
import { InboundLoad, type AnnounceOutcome } from './support/inbound-load.js';
import { faultSeed, seededRandom } from './support/seeded-random.js';

const profile = faultProfile();
const random = seededRandom(faultSeed());

type Control = FaultCluster['fake']['control'];
type FaultSpec = Parameters<Control['faults']>[0];

/** WeCom misbehaving mid-run, one step at a time; each step queues faults that the next API calls hit. */
const WECOM_FAULTS: { name: string; apply(control: Control): Promise<void> }[] = [
  { name: 'sync_msg -1 ×3', apply: (c) => c.faults({ path: '/cgi-bin/kf/sync_msg', errcode: -1, times: 3 }) },
  { name: 'sync_msg 45009 ×3', apply: (c) => c.faults({ path: '/cgi-bin/kf/sync_msg', errcode: 45009, times: 3 }) },
  {
    name: 'tokens expired + sync_msg 42001 ×2',
    apply: async (c) => {
      await c.expireTokens();
      await c.faults({ path: '/cgi-bin/kf/sync_msg', errcode: 42001, times: 2 });
    },
  },
  { name: 'sync_msg HTTP 502 ×2', apply: (c) => c.faults({ path: '/cgi-bin/kf/sync_msg', httpStatus: 502, times: 2 }) },
  { name: 'sync_msg connection dropped', apply: (c) => c.faults({ path: '/cgi-bin/kf/sync_msg', dropConnection: true }) },
  {
    name: 'sync_msg answer lost after serving ×2',
    apply: (c) => c.faults({ path: '/cgi-bin/kf/sync_msg', after: true, errcode: -1, times: 2 } satisfies FaultSpec),
  },
  { name: 'sync_msg 3 s slow', apply: (c) => c.faults({ path: '/cgi-bin/kf/sync_msg', delayMs: 3_000 }) },
  {
    name: 'tokens expired + gettoken -1 ×2',
    apply: async (c) => {
      await c.faults({ path: '/cgi-bin/gettoken', errcode: -1, times: 2 });
      await c.expireTokens();
    },
  },
];

describe(`fault suite (${profile.length}): callbacks duplicated, delayed, concurrent; WeCom answering errors`, () => {
  const stack = useFaultCluster();

  it(
    'loses and duplicates nothing when callbacks are duplicated, delayed, missing or sent to every node at once, and WeCom fails mid-run',
    async () => {
      const opened = await openGateways(stack.cluster, 'callbacks', MIXED_GATEWAYS);
      stack.gateways.push(...opened.gateways);
      const control = stack.cluster.fake.control;
      const statuses = async (results: Promise<{ status: number | null }[]>): Promise<AnnounceOutcome> =>
        (await results).map((r) => r.status);
      const patterns = { everyNode: 0, delayed: 0, missing: 0, twiceViaBalancer: 0, once: 0 };
      const load = new InboundLoad({
        control,
        targets: opened.targets,
        ratePerSec: profile.ratePerSec,
        label: 'callbacks',
        announce: async () => {
          const roll = random.next();
          if (roll < 0.3) {
            patterns.everyNode += 1;
            return statuses(control.callback({ urls: [...stack.cluster.nodeWebhookUrls], times: random.int(2, 4), concurrent: true }));
          }
          if (roll < 0.5) {
            patterns.delayed += 1;
            await sleep(random.int(500, 4_000));
            return statuses(control.callback({ urls: [random.pick(stack.cluster.nodeWebhookUrls)] }));
          }
          if (roll < 0.6) {
            // Never announced: only the periodic pull finds it.
            patterns.missing += 1;
            return [];
          }
          if (roll < 0.7) {
            patterns.twiceViaBalancer += 1;
            return statuses(control.callback({ times: 2 }));
          }
          patterns.once += 1;
          return statuses(control.callback({}));
        },
      });
      load.start();
      const step = profile.callbackFaultMs / WECOM_FAULTS.length;
      for (const fault of WECOM_FAULTS) {
        await sleep(step);
        await fault.apply(control);
      }
      await sleep(3_000);
      await load.stop();

      const result = await finishScenario(
        'callback-faults',
        stack.cluster,
        { sent: load.sent, gateways: opened.gateways, targets: opened.targets },
        profile.deliveryTimeoutMs,
        {
          callbacks: `${load.callbacks} (every node at once ${patterns.everyNode}, delayed ${patterns.delayed}, ` +
            `none ${patterns.missing}, twice ${patterns.twiceViaBalancer}, once ${patterns.once})`,
          'callbacks not 200': load.callbacksFailed,
          'wecom faults': WECOM_FAULTS.length,
          'wecom errors answered': JSON.stringify((await control.stats()).errors),
          seed: random.seed,
        },
      );
      expect(await control.faultsPending(), 'every injected WeCom fault was hit by the relays').toEqual([]);
      expectNoMessageLost(result);
    },
    FAULT_TEST_TIMEOUT_MS,
  );
});
