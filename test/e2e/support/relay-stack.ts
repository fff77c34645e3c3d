import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { GatewayClient, type GatewayClientOptions } from '@wecom-relay/gateway-client';
import { gatewayAuthToken } from '@wecom-relay/shared';
import {
  relayEnvFor,
  spawnFakeWecom,
  spawnRelayNode,
  testCorp,
  type FakeWecomHandle,
  type RelayNodeEnv,
  type RelayNodeHandle,
  type TestCorp,
} from '@wecom-relay/testkit';

/** One fake WeCom and one single-node relay (SQLite), both real processes, plus the gateways a test opens. */
export interface RelayStack {
  corp: TestCorp;
  fake: FakeWecomHandle;
  relay: RelayNodeHandle;
  /** The auth_token a gateway id must present (HMAC of the relay secret). */
  tokenFor(gatewayId: string): string;
  /** A gateway client for this relay, connected unless `connect: false`; closed after the current test. */
  gateway(options?: Partial<GatewayClientOptions> & { connect?: boolean }): Promise<GatewayClient>;
  /** Closes every gateway opened since the last call. */
  closeGateways(): Promise<void>;
  stop(): Promise<void>;
}

/** Options for a stack. */
export interface RelayStackOptions {
  /** Extra relay environment (LOCALE, LOG_LEVEL, limits, ...). */
  relayEnv?: RelayNodeEnv;
  /** Puts something between the relay and the fake's API: given the fake's URL, returns the URL the relay uses. */
  apiProxy?: (fakeUrl: string) => Promise<{ url: string; stop(): Promise<void> }>;
  /** kf accounts served besides the corp's own: the fake serves them and the relay lists them in WECOM_OPEN_KFID. */
  moreOpenKfids?: string[];
}

/** A short random id with a readable prefix, so tests sharing a stack never share gateways or users. */
export function uid(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/** A WeCom-looking external_userid, unique per call. */
export function newUserId(): string {
  return `wm${randomBytes(8).toString('hex')}`;
}

/**
 * Starts the fake, then the relay on ports it finds free itself (spawnRelayNode picks them and retries when
 * another process takes one first), then points the fake's callbacks at the relay's webhook.
 */
export async function startRelayStack(options: RelayStackOptions = {}): Promise<RelayStack> {
  const corp = testCorp();
  const kfids = [corp.openKfid, ...(options.moreOpenKfids ?? [])].join(',');
  const fake = await spawnFakeWecom({ corp, callbackUrls: [], env: { FAKE_WECOM_OPEN_KFID: kfids } });
  let relay: RelayNodeHandle;
  let proxy: { url: string; stop(): Promise<void> } | undefined;
  try {
    proxy = options.apiProxy ? await options.apiProxy(fake.url) : undefined;
    relay = await spawnRelayNode(relayEnvFor(corp, proxy?.url ?? fake.url, { WECOM_OPEN_KFID: kfids, ...options.relayEnv }));
    await fake.control.setCallbackUrls([relay.webhookUrl]).catch(async (err: unknown) => {
      await relay.stop();
      throw err;
    });
  } catch (err) {
    await Promise.all([fake.stop(), proxy?.stop()]);
    throw err;
  }
  const opened: GatewayClient[] = [];
  const stack: RelayStack = {
    corp,
    fake,
    relay,
    tokenFor: (gatewayId) => gatewayAuthToken(corp.relaySecret, gatewayId),
    async gateway(overrides = {}) {
      const { connect = true, ...rest } = overrides;
      const gatewayId = rest.gatewayId ?? uid('gw');
      const client = new GatewayClient({
        url: relay.wsUrl,
        gatewayId,
        authToken: stack.tokenFor(gatewayId),
        dialect: 'plain',
        timeoutMs: 15_000,
        ...rest,
      });
      opened.push(client);
      if (connect) await client.connect();
      return client;
    },
    async closeGateways() {
      await Promise.all(opened.splice(0).map((c) => c.close().catch(() => undefined)));
    },
    async stop() {
      await stack.closeGateways();
      await relay.stop();
      await Promise.all([fake.stop(), proxy?.stop()]);
    },
  };
  return stack;
}

/**
 * Vitest wiring for a stack shared by one file: started before all tests, gateways closed after each, the
 * relay's and the fake's output tails printed when a test fails. Returns an accessor for the running stack.
 */
export function useRelayStack(options: RelayStackOptions = {}): () => RelayStack {
  let stack: RelayStack | undefined;
  beforeAll(async () => {
    stack = await startRelayStack(options);
  }, 240_000);
  beforeEach((ctx) => {
    ctx.onTestFailed(() => {
      if (!stack) return;
      process.stderr.write(
        `\n--- relay-node (pid ${stack.relay.pid}) last output ---\n${stack.relay.tail(60)}\n` +
          `--- fake-wecom (pid ${stack.fake.pid}) last output ---\n${stack.fake.process.tail(30)}\n`,
      );
    });
  });
  afterEach(async () => {
    await stack?.closeGateways();
  });
  afterAll(async () => {
    await stack?.stop();
  }, 60_000);
  return () => {
    if (!stack) throw new Error('the relay stack did not start; see the beforeAll error');
    return stack;
  };
}
