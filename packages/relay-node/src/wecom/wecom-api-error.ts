import { RelayError } from '../errors/relay-error.js';

/** System busy: retry with back-off, at most 3 times (reference §3.7). */
export const ERRCODE_SYSTEM_BUSY = -1;
/** API call frequency exceeded: the block lasts about a minute, so back off longer. */
export const ERRCODE_FREQUENCY_LIMITED = 45009;
/** API concurrency exceeded. */
export const ERRCODE_CONCURRENCY_LIMITED = 45033;
/** The sync_msg callback Token is invalid or older than 10 minutes; the caller decides (resync without it). */
export const ERRCODE_INVALID_MSG_TOKEN = 95007;
/**
 * UNCONFIRMED: WeCom documents that a reused send_msg msgid errors, not with which code; this is the code the
 * project's fake WeCom uses. Seen on a retry after an ambiguous failure it means the first attempt went through.
 */
export const ERRCODE_DUPLICATE_MSGID = 95019;

const TRANSIENT = new Set([ERRCODE_SYSTEM_BUSY, ERRCODE_FREQUENCY_LIMITED, ERRCODE_CONCURRENCY_LIMITED]);
const TOKEN_ERRORS = new Set([40014, 42001, 41001]);
const INVALID_CREDENTIAL = 40001;

/** Whether an errcode may succeed if the same call is simply tried again later. */
export function isTransient(errcode: number): boolean {
  return TRANSIENT.has(errcode);
}

/**
 * Whether an errcode means "get a new access token and retry once". 40001 counts only outside gettoken: there it
 * means a wrong secret, elsewhere WeCom has been seen to use it for a bad token (reference §3.7, UNCONFIRMED).
 */
export function isTokenError(errcode: number, api?: string): boolean {
  if (TOKEN_ERRORS.has(errcode)) return true;
  return errcode === INVALID_CREDENTIAL && api !== 'gettoken';
}

/** A WeCom call that failed: WeCom refused it (WECOM_API_ERROR, errcode set) or could not be reached (WECOM_UNAVAILABLE). */
export class WecomApiError extends RelayError {
  declare readonly code: 'WECOM_API_ERROR' | 'WECOM_UNAVAILABLE';
  /** WeCom's errcode, or null when no WeCom answer was read (network, timeout, HTTP error). */
  readonly errcode: number | null;
  /** WeCom's errmsg ('' when none); for logs only, never for decisions. */
  readonly errmsg: string;
  /** The API, e.g. "kf/send_msg". */
  readonly api: string;

  constructor(
    code: 'WECOM_API_ERROR' | 'WECOM_UNAVAILABLE',
    p: { api: string; errcode: number | null; errmsg?: string; message?: string },
    options?: ErrorOptions,
  ) {
    const errmsg = p.errmsg ?? '';
    const what = p.errcode === null ? (p.message ?? 'no answer') : `errcode ${p.errcode}${errmsg ? ` (${errmsg})` : ''}`;
    super(code, `${p.api}: ${what}`, { api: p.api, ...(p.errcode === null ? {} : { wecomErrcode: p.errcode }) }, options);
    this.name = 'WecomApiError';
    this.errcode = p.errcode;
    this.errmsg = errmsg;
    this.api = p.api;
  }
}

/** A media download larger than the caller's cap; the download was aborted, nothing buffered past the cap. */
export class WecomMediaTooLargeError extends RelayError {
  declare readonly code: 'WECOM_MEDIA_TOO_LARGE';
  readonly api: string;
  readonly maxBytes: number;

  constructor(p: { api: string; maxBytes: number; mediaId: string }) {
    super('WECOM_MEDIA_TOO_LARGE', `media exceeds ${p.maxBytes} bytes`, { api: p.api, maxBytes: p.maxBytes, mediaId: p.mediaId });
    this.name = 'WecomMediaTooLargeError';
    this.api = p.api;
    this.maxBytes = p.maxBytes;
  }
}

/** Narrows unknown to WecomApiError. */
export function isWecomApiError(err: unknown): err is WecomApiError {
  return err instanceof WecomApiError;
}
