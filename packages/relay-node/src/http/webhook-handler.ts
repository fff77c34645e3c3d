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
import { parseRawQuery } from './raw-query.js';
import { readBody } from './read-body.js';
import { sendError, sendText } from './respond.js';

/** Options for {@link createWebhookHandler}. */
export interface WebhookHandlerOptions {
  crypto: Pick<WecomCrypto, 'verifyUrl' | 'openCallback'>;
  openKfid: string;
  maxBodyBytes: number;
  /** Durably notes that WeCom announced messages and starts a pull; rejects if the note could not be stored. */
  onKfCallback: (callbackToken: string | null) => Promise<void>;
  logger: Logger;
  metrics: RelayMetrics;
}

/**
 * WeCom's side of a node: GET verifies the callback URL, POST receives "go pull" callbacks. A POST is answered
 * as soon as the pull is noted (WeCom retries after 5 s), never after the pull itself.
 */
export function createWebhookHandler(o: WebhookHandlerOptions) {
  return async function handleWebhook(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const kind = req.method === 'GET' ? 'verify' : 'callback';
    try {
      const query = parseRawQuery(req.url ?? '');
      const msgSignature = query?.get('msg_signature');
      const timestamp = query?.get('timestamp');
      const nonce = query?.get('nonce');
      if (!msgSignature || !timestamp || !nonce) throw new RelayError('WEBHOOK_BAD_QUERY');
      if (req.method === 'GET') {
        const echostr = query?.get('echostr');
        if (!echostr) throw new RelayError('WEBHOOK_BAD_QUERY', 'echostr is required for URL verification');
        const plain = o.crypto.verifyUrl({ msgSignature, timestamp, nonce, echostr });
        o.metrics.webhookRequests.inc({ kind, outcome: 'ok' });
        sendText(res, 200, plain);
        return;
      }
      const body = await readBody(req, o.maxBodyBytes);
      const envelope = parseCallbackEnvelope(body.toString('utf8'));
      const xml = o.crypto.openCallback({ msgSignature, timestamp, nonce }, envelope.encrypt);
      const event = parseKfCallbackEvent(xml);
      if (event.event !== 'kf_msg_or_event') {
        o.logger.debug({ msgType: event.msgType, event: event.event }, 'callback of another kind acknowledged');
      } else if (event.openKfid && event.openKfid !== o.openKfid) {
        o.logger.warn({ openKfid: event.openKfid }, 'callback for a kf account this relay does not serve');
      } else {
        await o.onKfCallback(event.token ?? null);
      }
      o.metrics.webhookRequests.inc({ kind, outcome: 'ok' });
      sendText(res, 200, '');
    } catch (err) {
      const relayErr = toRelayError(err);
      o.metrics.webhookRequests.inc({ kind, outcome: relayErr.code });
      const level = relayErr.code === 'INTERNAL' || relayErr.code === 'NOT_READY' ? 'error' : 'warn';
      o.logger[level]({ err: err as Error, code: relayErr.code, kind }, 'webhook request refused');
      sendError(res, relayErr);
    }
  };
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
