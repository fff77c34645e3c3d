import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { useFaultCluster } from './support/fault-cluster.js';
import { FAULT_TEST_TIMEOUT_MS, faultProfile } from './support/fault-profile.js';
import { expectNoMessageLost, finishScenario, openGateways, type GatewaySpec } from './support/fault-scenario.js';
import {
  pointedFrames,
  randomFrame,
  unauthenticatedFirstFrames,
  type FrameFuzzContext,
} from './support/fuzz-inputs.js';
import { FuzzSocket, countsOf, openFlood } from './support/fuzz-socket.js';
import { InboundLoad } from './support/inbound-load.js';
import { faultSeed, seededRandom } from './support/seeded-random.js';
import { fuzzWebhookOnce, type WebhookFuzzOutcome } from './support/webhook-fuzzer.js';

const profile = faultProfile();
const random = seededRandom(faultSeed());

/** The legitimate traffic that must keep flowing while the fuzzers run. */
const LEGIT_GATEWAYS: readonly GatewaySpec[] = [
  { dialect: 'plain', delivery: 'ack', users: 2 },
  { dialect: 'plain', delivery: 'legacy', users: 2 },
  { dialect: 'cs', delivery: 'legacy', users: 2 },
];

describe(`fault suite (${profile.length}): fuzzed webhooks and frames, a flood of unauthenticated sockets`, () => {
  const stack = useFaultCluster();
  const sockets: FuzzSocket[] = [];
  stack.onStop(() => {
    for (const s of sockets) s.terminate();
  });

  /** An authenticated attacker socket on `url`, reopened (retrying through 4008 refusals) when the relay closed it. */
  async function attacker(url: string, gatewayId: string, cs: boolean): Promise<FuzzSocket> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        const socket = await FuzzSocket.open(url);
        sockets.push(socket);
        if (await socket.hello(gatewayId, stack.cluster.tokenFor(gatewayId), cs)) return socket;
        socket.terminate();
      } catch {
        // refused or reset: try again below
      }
      if (Date.now() > deadline) throw new Error(`attacker ${gatewayId} could not authenticate on ${url}`);
      await sleep(250);
    }
  }

  /** Hostile frames on one authenticated socket; resolves with the relay's error codes and the close codes seen. */
  async function fuzzFrames(url: string, ctx: FrameFuzzContext, cs: boolean) {
    const frames = [...pointedFrames(ctx, random)];
    for (let i = 0; i < profile.fuzzCases; i++) frames.push(randomFrame(ctx, random));
    const errorCodes: string[] = [];
    const closeCodes: number[] = [];
    let socket = await attacker(url, ctx.gatewayId, cs);
    for (const frame of frames) {
      if (!socket.isOpen) {
        errorCodes.push(...socket.errorCodes());
        closeCodes.push(await socket.closed);
        socket = await attacker(url, ctx.gatewayId, cs);
      }
      socket.send(frame);
      await sleep(frame.data.length > 1_000_000 ? 300 : 15);
    }
    // Still served: an ordinary request on the same (or a fresh) authenticated socket gets its answer.
    await sleep(1_000);
    if (!socket.isOpen) {
      errorCodes.push(...socket.errorCodes());
      closeCodes.push(await socket.closed);
      socket = await attacker(url, ctx.gatewayId, cs);
    }
    const before = socket.frames.length;
    socket.send({ kind: 'create_binding', data: JSON.stringify({ type: cs ? 'cs_create_binding' : 'create_binding', gateway_id: ctx.gatewayId }) });
    const deadline = Date.now() + 15_000;
    let stillServed = false;
    while (!stillServed && Date.now() < deadline && socket.isOpen) {
      stillServed = socket.frames.slice(before).some((f) => /create_binding_ack$/.test(String((f as { type?: unknown }).type)));
      await sleep(50);
    }
    errorCodes.push(...socket.errorCodes());
    return { errorCodes, closeCodes, stillServed, sent: frames.length };
  }

  it(
    'keeps every node running, healthy and delivering legitimate traffic while being fuzzed and flooded',
    async () => {
      const opened = await openGateways(stack.cluster, 'fuzz', LEGIT_GATEWAYS);
      stack.gateways.push(...opened.gateways);
      const victimGateway = opened.gateways[0]!;
      const victimUser = opened.targets.find((t) => t.gatewayId === victimGateway.gatewayId)!.user;
      const load = new InboundLoad({
        control: stack.cluster.fake.control,
        targets: opened.targets,
        ratePerSec: Math.max(2, profile.ratePerSec / 2),
        label: 'fuzz',
      });
      load.start();
      const incarnationsBefore = stack.cluster.incarnations.length;
      const baseCtx = {
        victimGatewayId: victimGateway.gatewayId,
        victimUser,
        foreignToken: stack.cluster.tokenFor('someone-else'),
        relaySecret: stack.cluster.corp.relaySecret,
      };
      const httpTargets = [
        ...stack.cluster.nodes.map((n) => ({ httpUrl: n.httpUrl, webhookUrl: n.webhookUrl })),
        { httpUrl: stack.cluster.lb.httpUrl, webhookUrl: stack.cluster.lbWebhookUrl },
      ];

      const webhookFuzz = (async () => {
        const outcomes: WebhookFuzzOutcome[] = [];
        for (let i = 0; i < profile.fuzzCases; i++) {
          outcomes.push(await fuzzWebhookOnce(random, stack.cluster.fake.control, random.pick(httpTargets), stack.cluster.corp.openKfid));
        }
        return outcomes;
      })();

      const frameFuzz = Promise.all(
        stack.cluster.nodes.map((node, i) =>
          fuzzFrames(node.wsUrl, { ...baseCtx, gatewayId: `fuzz-attacker-${i}` }, i % 2 === 1),
        ),
      );

      const unauthenticated = (async () => {
        const results: { kind: string; code: number | null; acked: boolean }[] = [];
        const firsts = unauthenticatedFirstFrames({ ...baseCtx, gatewayId: 'fuzz-nobody' }, random);
        await Promise.all(
          stack.cluster.nodes.map(async (node) => {
            for (const frame of firsts) {
              let socket: FuzzSocket;
              try {
                socket = await FuzzSocket.open(node.wsUrl);
              } catch {
                results.push({ kind: frame?.kind ?? 'silent', code: -1, acked: false });
                continue;
              }
              sockets.push(socket);
              if (frame) socket.send(frame);
              const code = await socket.waitClosed(20_000);
              results.push({ kind: frame?.kind ?? 'silent', code, acked: socket.helloAcked() });
            }
          }),
        );
        return results;
      })();

      const flood = (async () => {
        const direct = await openFlood(stack.cluster.nodes[0]!.wsUrl, Math.ceil(profile.floodSockets * 0.7));
        const balanced = await openFlood(stack.cluster.lb.wsUrl, Math.floor(profile.floodSockets * 0.3));
        const all = [...direct.sockets, ...balanced.sockets];
        sockets.push(...all);
        const codes = await Promise.all(all.map((s) => s.waitClosed(30_000)));
        return { opened: all.length, failed: direct.failed + balanced.failed, codes };
      })();

      const [webhookOutcomes, frameResults, unauthResults, floodResult] = await Promise.all([
        webhookFuzz,
        frameFuzz,
        unauthenticated,
        flood,
      ]);
      await sleep(2_000);
      await load.stop();

      const badHttp = webhookOutcomes.filter((o) => o.wellFormed && (o.status === null || o.status >= 500));
      const hijacks = (await stack.cluster.fake.control.sent()).filter((m) => m.content?.includes('fuzz:'));
      const result = await finishScenario(
        'fuzz',
        stack.cluster,
        { sent: load.sent, gateways: opened.gateways, targets: opened.targets },
        profile.deliveryTimeoutMs,
        {
          'webhook requests': `${webhookOutcomes.length} (statuses ${countsOf(webhookOutcomes.map((o) => o.status))})`,
          'frames sent': frameResults.reduce((n, r) => n + r.sent, 0),
          'relay error frames': countsOf(frameResults.flatMap((r) => r.errorCodes)),
          'attacker sockets closed with': countsOf(frameResults.flatMap((r) => r.closeCodes)) || '-',
          'unauthenticated sockets closed with': countsOf(unauthResults.map((r) => r.code)),
          flood: `${floodResult.opened} opened (${floodResult.failed} refused at upgrade), closed with ${countsOf(floodResult.codes)}`,
          seed: random.seed,
        },
      );

      expect(stack.cluster.incarnations.length, 'no node was restarted (none crashed)').toBe(incarnationsBefore);
      expect(badHttp.map((o) => `${o.kind} → ${o.status}`), 'well-formed webhook requests answered with 5xx or not at all').toEqual([]);
      expect(frameResults.map((r) => r.stillServed), 'attackers still served after their hostile frames').toEqual(
        frameResults.map(() => true),
      );
      expect(unauthResults.filter((r) => r.acked).map((r) => r.kind), 'unauthenticated sockets that got a hello ack').toEqual([]);
      expect(unauthResults.filter((r) => r.code === null).map((r) => r.kind), 'unauthenticated sockets left open').toEqual([]);
      expect(floodResult.codes.filter((c) => c === null).length, 'flood sockets the relay left open').toBe(0);
      expect(hijacks.map((m) => m.touser), 'fuzzed replies that reached a WeCom user').toEqual([]);
      // Error level is for the relay's own faults (a store that failed, a bug): nothing an attacker sends or does is one.
      expect(stack.cluster.errorLines().map((l) => l.slice(0, 600)), 'error-level lines the hostile traffic made a node log').toEqual([]);
      expectNoMessageLost(result);
    },
    FAULT_TEST_TIMEOUT_MS,
  );
});
