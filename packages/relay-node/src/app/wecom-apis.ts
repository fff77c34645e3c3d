import type { Logger } from 'pino';
import type { RelayConfig } from '../config/relay-config.js';
import type { RelayMetrics } from '../observability/metrics.js';
import type { AccessTokenStore } from '../state/access-token-store.js';
import { createWecomClient, type KfApi, type MediaApi } from '../wecom/index.js';

/** The WeCom APIs a node calls. */
export interface WecomApis {
  kf: KfApi;
  media: MediaApi;
}

/** Builds the node's WeCom client with its calls counted in the node's metrics. */
export function createWecomApis(o: {
  config: RelayConfig;
  logger: Logger;
  metrics: RelayMetrics;
  tokenStore: AccessTokenStore;
}): WecomApis {
  const { kf, media } = createWecomClient({
    apiBase: o.config.wecom.apiBase,
    corpId: o.config.wecom.corpId,
    secret: o.config.wecom.secret,
    tokenStore: o.tokenStore,
    logger: o.logger,
    observer: {
      apiCall: (api, errcode, seconds) => {
        o.metrics.wecomApiCalls.inc({ api, errcode: String(errcode) });
        o.metrics.wecomApiDuration.observe({ api }, seconds);
      },
      tokenRefresh: (ok) => o.metrics.tokenRefreshes.inc({ outcome: ok ? 'ok' : 'error' }),
    },
  });
  return { kf, media };
}
