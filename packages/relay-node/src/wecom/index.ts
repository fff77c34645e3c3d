export { createWecomClient, type WecomClient } from './wecom-client.js';
export {
  redactSecrets,
  resolveWecomClientOptions,
  type ResolvedWecomClientOptions,
  type WecomClientOptions,
  type WecomObserver,
} from './wecom-client-options.js';
export {
  ERRCODE_CONCURRENCY_LIMITED,
  ERRCODE_DUPLICATE_MSGID,
  ERRCODE_FREQUENCY_LIMITED,
  ERRCODE_INVALID_MSG_TOKEN,
  ERRCODE_SYSTEM_BUSY,
  WecomApiError,
  WecomMediaTooLargeError,
  isTokenError,
  isTransient,
  isWecomApiError,
} from './wecom-api-error.js';
export { AccessTokenProvider, type AccessTokenProviderOptions, type FetchAccessToken } from './access-token-provider.js';
export { WecomHttp, type TokenSource, type WecomCall } from './wecom-http.js';
export {
  KfApi,
  newClientMsgid,
  type SendImageRequest,
  type SendTextOnEventRequest,
  type SendTextRequest,
  type SyncMsgRequest,
  type TransServiceStateRequest,
} from './kf-api.js';
export { MediaApi, type MediaApiOptions, type WecomMediaType } from './media-api.js';
export type { DownloadedMedia } from './media-download.js';
