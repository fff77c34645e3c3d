import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import {
  WecomCryptoError,
  WecomXmlError,
  parseCallbackEnvelope,
  parseKfCallbackEvent,
  type WecomCrypto,
} from '@wecom-relay/shared';
import { RelayError } from '../errors/relay-error.js';
import type { RelayMetrics } from '../observability/metrics.js';
import { LogThrottle } from '../observability/log-throttle.js';
import { TRUST_NO_PROXY, clientAddress, compileProxyTrust, sourceKey } from '../gateway/client-address.js';
import { parseRawQuery, repeatedKeys } from './raw-query.js';
import { readBody } from './read-body.js';
import { sendError, sendText } from './respond.js';
import { SeenCallbacks } from './seen-callbacks.js';

/** Options for {@link createWebhookHandler}. */
export interface WebhookHandlerOptions {
  crypto: Pick<WecomCrypto, 'verifyUrl' | 'openCallback'>;
  /** The kf accounts this relay serves (WECOM_OPEN_KFID); a callback naming another is dropped with a warning. */
  openKfids: readonly string[];
  maxBodyBytes: number;
  /**
   * Durably notes that WeCom announced messages of one kf account and starts its pull; rejects if the note could
   * not be stored. `openKfid` null: the callback named no account (older WeCom), so every account is pulled.
   */
  onKfCallback: (openKfid: string | null, callbackToken: string | null) => Promise<void>;
  logger: Logger;
  metrics: RelayMetrics;
  /** A callback not noted within this long is answered 503 so WeCom retries (it waits 5 s); default 3 s. */
  deadlineMs?: number;
  /** Timestamps (query and CreateTime) further than this from now are refused; default 5 minutes. */
  replayWindowMs?: number;
  /** Recent callbacks remembered to answer exact replays; default 10 000. */
  seenCacheSize?: number;
  /** Refusals are logged once per source address and code per this interval; default 60 s. */
  refusalLogIntervalMs?: number;
  /** Load balancers whose X-Forwarded-For names the source of a refused request. */
  trustedProxies?: readonly string[];
  now?: () => number;
}

/** Query fields a signed request carries; each must appear exactly once. */
const SIGNED_FIELDS = ['msg_signature', 'timestamp', 'nonce', 'echostr'];

/**
 * WeCom's side of a node: GET verifies the callback URL, POST receives "go pull" callbacks. A POST is answered
 * as soon as the pull is noted (WeCom retries after 5 s), never after the pull itself, and with 503 when the
 * note cannot be stored in time (WeCom retries any non-200).
 */
export function createWebhookHandler(o: WebhookHandlerOptions) {
  const now = o.now ?? Date.now;
  const deadlineMs = o.deadlineMs ?? 3_000;
  const windowMs = o.replayWindowMs ?? 5 * 60_000;
  const seen = new SeenCallbacks({ ttlMs: 2 * windowMs, maxEntries: o.seenCacheSize ?? 10_000, now });
  const throttle = new LogThrottle({ intervalMs: o.refusalLogIntervalMs ?? 60_000, now });
  const proxies = o.trustedProxies?.length ? compileProxyTrust(o.trustedProxies) : TRUST_NO_PROXY;

  const inWindow = (seconds: string): boolean => {
    if (!/^\d{1,12}$/.test(seconds)) return false;
    return Math.abs(now() - Number(seconds) * 1000) <= windowMs;
  };

  async function handle(req: IncomingMessage, res: ServerResponse, kind: 'verify' | 'callback'): Promise<void> {
    const url = req.url ?? '';
    const query = parseRawQuery(url);
    const msgSignature = query?.get('msg_signature');
    const timestamp = query?.get('timestamp');
    const nonce = query?.get('nonce');
    if (!msgSignature || !timestamp || !nonce) throw new RelayError('WEBHOOK_BAD_QUERY');
    const repeated = repeatedKeys(url).filter((k) => SIGNED_FIELDS.includes(k));
    if (repeated.length > 0) throw new RelayError('WEBHOOK_BAD_QUERY', `query field given more than once: ${repeated.join(', ')}`);
    if (kind === 'verify') {
      const echostr = query?.get('echostr');
      if (!echostr) throw new RelayError('WEBHOOK_BAD_QUERY', 'echostr is required for URL verification');
      const plain = o.crypto.verifyUrl({ msgSignature, timestamp, nonce, echostr });
      o.metrics.webhookRequests.inc({ kind, outcome: 'ok' });
      sendText(res, 200, plain);
      return;
    }
    // Before any decryption: a captured callback replayed later than the window costs nothing.
    if (!inWindow(timestamp)) throw new RelayError('WEBHOOK_STALE');
    const body = await readBody(req, o.maxBodyBytes);
    const envelope = parseCallbackEnvelope(body.toString('utf8'));
    const xml = o.crypto.openCallback({ msgSignature, timestamp, nonce }, envelope.encrypt);
    const event = parseKfCallbackEvent(xml);
    // The timestamp is signed, CreateTime is inside the ciphertext: both must be recent.
    if (!inWindow(event.createTime)) throw new RelayError('WEBHOOK_STALE', 'callback CreateTime is outside the accepted window');
    const key = `${msgSignature.toLowerCase()}|${timestamp}|${nonce}`;
    const { replay, done } = seen.run(key, async () => {
      if (event.event !== 'kf_msg_or_event') {
        o.logger.debug({ msgType: event.msgType, event: event.event }, 'callback of another kind acknowledged');
      } else if (event.openKfid && !o.openKfids.includes(event.openKfid)) {
        o.logger.warn({ openKfid: event.openKfid }, 'callback for a kf account this relay does not serve');
      } else {
        await o.onKfCallback(event.openKfid || null, event.token ?? null);
      }
    });
    await done;
    if (res.headersSent) return; // the deadline answered already
    o.metrics.webhookRequests.inc({ kind, outcome: replay ? 'replay' : 'ok' });
    sendText(res, 200, '');
  }

  return async function handleWebhook(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const kind = req.method === 'GET' ? 'verify' : 'callback';
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new RelayError('NOT_READY', `callback could not be recorded within ${deadlineMs} ms; retry`)),
        deadlineMs,
      );
    });
    try {
      // The work goes on after the deadline (a late note is harmless); only the answer is not waited for.
      await Promise.race([handle(req, res, kind), deadline]);
    } catch (err) {
      const relayErr = toRelayError(err);
      o.metrics.webhookRequests.inc({ kind, outcome: relayErr.code });
      logRefusal(req, kind, relayErr);
      sendError(res, relayErr);
    } finally {
      clearTimeout(timer);
    }
  };

  /** One line per source and code per interval, no stack: a flood of bad requests must not flood the log. */
  function logRefusal(req: IncomingMessage, kind: string, err: RelayError): void {
    // IPv6 clients count by /64, as on the gateway port: one host holds a whole /64.
    const source = sourceKey(clientAddress(req, proxies));
    const decision = throttle.check(`${source}|${err.code}`);
    if (!decision.log) return;
    const serverSide = err.code === 'INTERNAL' || err.code === 'NOT_READY';
    const cause = err.cause instanceof Error ? err.cause.message : undefined;
    o.logger[serverSide ? 'error' : 'warn'](
      { code: err.code, kind, source, reason: err.message, ...(cause ? { cause } : {}), suppressedSinceLast: decision.suppressed },
      'webhook request refused',
    );
  }
}

function toRelayError(err: unknown): RelayError {
  if (err instanceof RelayError) return err;
  if (err instanceof WecomCryptoError) {
    if (err.code === 'signature_mismatch') return new RelayError('WEBHOOK_SIGNATURE_INVALID');
    if (err.code === 'receive_id_mismatch') return new RelayError('WEBHOOK_RECEIVE_ID_MISMATCH');
    return new RelayError('WEBHOOK_DECRYPT_FAILED', `callback could not be decrypted (${err.code})`);
  }
  if (err instanceof WecomXmlError) return new RelayError('WEBHOOK_MALFORMED', `callback XML rejected (${err.code})`);
  // The pending mark could not be stored: answer 503 so WeCom retries the callback.
  return new RelayError('NOT_READY', 'could not record the callback; retry', {}, { cause: err });
}
