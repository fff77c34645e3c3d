import { accessTokenResponseSchema } from '@wecom-relay/shared';
import { AccessTokenProvider } from './access-token-provider.js';
import { KfApi } from './kf-api.js';
import { MediaApi } from './media-api.js';
import { resolveWecomClientOptions, type WecomClientOptions } from './wecom-client-options.js';
import { WecomHttp, jsonReader } from './wecom-http.js';

/** The relay's WeCom client: kf and media APIs sharing one access token. */
export interface WecomClient {
  kf: KfApi;
  media: MediaApi;
  tokens: AccessTokenProvider;
  http: WecomHttp;
}

/** Builds the client; nothing is fetched until the first call. */
export function createWecomClient(options: WecomClientOptions): WecomClient {
  const o = resolveWecomClientOptions(options);
  const logger = o.logger.child({ component: 'wecom' });
  const resolved = { ...o, logger };
  // The provider fetches through the same call wrapper (retries, timeout, metrics), which in turn asks the
  // provider for tokens; the gettoken call itself is unauthenticated, so there is no cycle at run time.
  const tokens: AccessTokenProvider = new AccessTokenProvider({
    store: o.tokenStore,
    logger,
    now: o.now,
    observer: o.observer,
    refreshMarginMs: o.refreshMarginMs,
    lockWaitMs: o.lockWaitMs,
    lockTtlMs: o.timeoutMs * (o.maxRetries + 1) + 5_000,
    fetchToken: async () => {
      const answer = await http.call({
        api: 'gettoken',
        method: 'GET',
        auth: false,
        query: { corpid: o.corpId, corpsecret: o.secret },
        read: jsonReader('gettoken', accessTokenResponseSchema),
      });
      return { accessToken: answer.access_token, expiresIn: answer.expires_in };
    },
  });
  const http = new WecomHttp(resolved, tokens);
  return { kf: new KfApi(http, logger), media: new MediaApi(http), tokens, http };
}
