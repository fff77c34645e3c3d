import { WecomApiError } from '../wecom/wecom-api-error.js';
import { RelayError } from './relay-error.js';

/**
 * What a gateway may be told about a failure. WeCom's errmsg can carry the relay's egress IP and WeCom's hints, and a
 * network error can name WeCom's address: a gateway gets our code, our words and WeCom's errcode only (the full
 * error stays in the logs). Anything that is not a WeCom error passes unchanged.
 */
export function gatewaySafeError(err: unknown): unknown {
  if (!(err instanceof WecomApiError)) return err;
  const details = err.errcode === null ? {} : { wecomErrcode: err.errcode };
  const message =
    err.code === 'WECOM_UNAVAILABLE'
      ? err.errcode === null
        ? `WeCom could not be reached (${err.api}); try again later`
        : `WeCom is busy (${err.api}, errcode ${err.errcode}); try again later`
      : `WeCom refused ${err.api} (errcode ${err.errcode ?? 'none'})`;
  return new RelayError(err.code, message, details, { cause: err });
}
