import type { Logger } from 'pino';

/** Settings of a fake WeCom; every field has a default so a bare `startFakeWecom({})` works. */
export interface FakeWecomOptions {
  /** TCP port; 0 (default) picks a free one. */
  port?: number;
  /** Interface to bind; default 127.0.0.1. */
  host?: string;
  corpId?: string;
  corpSecret?: string;
  /** The callback "Token" configured in the WeCom admin console. */
  callbackToken?: string;
  /** 43 characters of [A-Za-z0-9]. */
  encodingAesKey?: string;
  /** The first kf account this fake serves; control calls that name none act on it. */
  openKfid?: string;
  /** More kf accounts, each with its own message stream, cursors and send windows (default none). */
  moreOpenKfids?: string[];
  /** Relay /webhook URLs that callbacks are POSTed to. */
  callbackUrls?: string[];
  /** Access token lifetime; default 7200 (reference §3.6). */
  accessTokenTtlSeconds?: number;
  /** Calls per API per minute before 45009; default 1,000,000 (effectively off). */
  rateLimitPerMinute?: number;
  /** Extra attempts after a callback is not answered with 200; default 0 so tests see exactly one POST. */
  callbackRetries?: number;
  /**
   * media/get of a larger file without a Range header answers 830002; default 5 MiB. WeCom's real threshold is
   * not documented (UNCONFIRMED).
   */
  largeMediaThresholdBytes?: number;
  /** Epoch-ms clock the fake's time is based on; default Date.now. */
  now?: () => number;
  /** Used to POST callbacks; default global fetch. */
  fetch?: typeof fetch;
  logger?: Logger;
}

/** Options with every default applied. */
export type ResolvedFakeWecomOptions = Required<Omit<FakeWecomOptions, 'logger'>> & {
  logger: Logger | undefined;
  /** Every kf account served, the first one first. */
  openKfids: string[];
};

/** Defaults shared by the CLI, the demo and tests, so two processes agree without configuration. */
export const FAKE_WECOM_DEFAULTS = {
  port: 0,
  host: '127.0.0.1',
  corpId: 'ww0fakecorp0000001',
  corpSecret: 'fake-corp-secret-0123456789abcdefghijklmno',
  callbackToken: 'fakeCallbackToken',
  encodingAesKey: 'jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C',
  openKfid: 'wkFAKEKF0000000000000000000001',
  accessTokenTtlSeconds: 7200,
  rateLimitPerMinute: 1_000_000,
  callbackRetries: 0,
  largeMediaThresholdBytes: 5 * 1024 * 1024,
} as const;

/** Applies defaults and checks the values a typo would make silently wrong. */
export function resolveOptions(opts: FakeWecomOptions): ResolvedFakeWecomOptions {
  const resolved: ResolvedFakeWecomOptions = {
    port: opts.port ?? FAKE_WECOM_DEFAULTS.port,
    host: opts.host ?? FAKE_WECOM_DEFAULTS.host,
    corpId: opts.corpId ?? FAKE_WECOM_DEFAULTS.corpId,
    corpSecret: opts.corpSecret ?? FAKE_WECOM_DEFAULTS.corpSecret,
    callbackToken: opts.callbackToken ?? FAKE_WECOM_DEFAULTS.callbackToken,
    encodingAesKey: opts.encodingAesKey ?? FAKE_WECOM_DEFAULTS.encodingAesKey,
    openKfid: opts.openKfid ?? FAKE_WECOM_DEFAULTS.openKfid,
    moreOpenKfids: [...(opts.moreOpenKfids ?? [])],
    openKfids: [...new Set([opts.openKfid ?? FAKE_WECOM_DEFAULTS.openKfid, ...(opts.moreOpenKfids ?? [])])],
    callbackUrls: [...(opts.callbackUrls ?? [])],
    accessTokenTtlSeconds: opts.accessTokenTtlSeconds ?? FAKE_WECOM_DEFAULTS.accessTokenTtlSeconds,
    rateLimitPerMinute: opts.rateLimitPerMinute ?? FAKE_WECOM_DEFAULTS.rateLimitPerMinute,
    callbackRetries: opts.callbackRetries ?? FAKE_WECOM_DEFAULTS.callbackRetries,
    largeMediaThresholdBytes: opts.largeMediaThresholdBytes ?? FAKE_WECOM_DEFAULTS.largeMediaThresholdBytes,
    now: opts.now ?? Date.now,
    fetch: opts.fetch ?? globalThis.fetch,
    logger: opts.logger,
  };
  if (!Number.isFinite(resolved.accessTokenTtlSeconds) || resolved.accessTokenTtlSeconds <= 0) {
    throw new RangeError('accessTokenTtlSeconds must be a positive number');
  }
  if (!Number.isFinite(resolved.rateLimitPerMinute) || resolved.rateLimitPerMinute < 1) {
    throw new RangeError('rateLimitPerMinute must be at least 1');
  }
  if (!(resolved.largeMediaThresholdBytes >= 0)) {
    throw new RangeError('largeMediaThresholdBytes must be a number >= 0');
  }
  for (const url of resolved.callbackUrls) new URL(url);
  return resolved;
}
