import type { Logger } from 'pino';
import type { AccessTokenStore } from '../state/access-token-store.js';
import { nodeHttpRequest, type HttpRequester } from './http-request.js';

/** Hooks for metrics; called once per HTTP attempt and once per gettoken outcome. */
export interface WecomObserver {
  /** errcode 0 for success, WeCom's errcode, or 'network' when no WeCom answer was read. */
  apiCall(api: string, errcode: number | 'network', seconds: number): void;
  tokenRefresh(ok: boolean): void;
}

/** Settings of the relay's WeCom client. */
export interface WecomClientOptions {
  /** Origin of the API, e.g. "https://qyapi.weixin.qq.com" or "http://127.0.0.1:9100"; /cgi-bin/... is appended. */
  apiBase: string;
  corpId: string;
  /** The kf app's secret; never logged. */
  secret: string;
  /** Where the access token is cached and who may refresh it (shared across nodes). */
  tokenStore: AccessTokenStore;
  logger: Logger;
  /** Sends each HTTP request; default node:http(s) ({@link nodeHttpRequest}). */
  request?: HttpRequester;
  /** Epoch-ms clock; default Date.now. */
  now?: () => number;
  observer?: WecomObserver;
  /** Per HTTP attempt, body included; default 10000. */
  timeoutMs?: number;
  /** Retries of transient failures (-1, 45009, 45033, network, HTTP 5xx) after the first attempt; default 3. */
  maxRetries?: number;
  /** First back-off step; doubles each retry, with jitter; default 200. */
  retryBaseMs?: number;
  /** First back-off step after 45009 (WeCom blocks for a minute); default 2000. */
  rateLimitBaseMs?: number;
  /** Longest single back-off; default 10000. */
  maxBackoffMs?: number;
  /** Refresh the token this long before it expires; default 300000 (5 min), at most half its lifetime. */
  refreshMarginMs?: number;
  /** How long a node without the refresh lock waits for another node's token before refreshing itself; default 2000. */
  lockWaitMs?: number;
  /** Jitter source in [0, 1); default Math.random. */
  random?: () => number;
}

/** Options with defaults applied. */
export type ResolvedWecomClientOptions = Required<Omit<WecomClientOptions, 'observer'>> & { observer: WecomObserver | undefined };

/** Applies the documented defaults. */
export function resolveWecomClientOptions(opts: WecomClientOptions): ResolvedWecomClientOptions {
  return {
    apiBase: opts.apiBase.replace(/\/+$/, ''),
    corpId: opts.corpId,
    secret: opts.secret,
    tokenStore: opts.tokenStore,
    logger: opts.logger,
    request: opts.request ?? nodeHttpRequest,
    now: opts.now ?? Date.now,
    observer: opts.observer,
    timeoutMs: opts.timeoutMs ?? 10_000,
    maxRetries: opts.maxRetries ?? 3,
    retryBaseMs: opts.retryBaseMs ?? 200,
    rateLimitBaseMs: opts.rateLimitBaseMs ?? 2_000,
    maxBackoffMs: opts.maxBackoffMs ?? 10_000,
    refreshMarginMs: opts.refreshMarginMs ?? 300_000,
    lockWaitMs: opts.lockWaitMs ?? 2_000,
    random: opts.random ?? Math.random,
  };
}

/** Hides credentials in text that may hold a URL (error messages, logs). */
export function redactSecrets(text: string): string {
  return text.replace(/(access_token|corpsecret)=[^&\s"']*/gi, '$1=[redacted]');
}
