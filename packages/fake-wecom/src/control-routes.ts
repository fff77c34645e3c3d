import type { IncomingMessage, ServerResponse } from 'node:http';
import { ControlError } from './control-error.js';
import type {
  CallbackInput,
  CustomerMessageInput,
  EventInput,
  RawCallbackInput,
  RecallInput,
  RejectSwitchInput,
  ServicerStatusInput,
  CustomerProfileInput,
  SessionChangeInput,
  ScanInput,
  ServicerMessageInput,
} from './control-types.js';
import type { FakeWecom } from './fake-wecom.js';
import type { FaultSpec } from './fault-queue.js';
import { BodyTooLargeError, parseJsonObject, readBody, sendJson } from './http-io.js';

/** Control bodies carry media as base64, so they may be large. */
const MAX_CONTROL_BODY_BYTES = 32 * 1024 * 1024;

type Body = Record<string, unknown>;
type Route = (fake: FakeWecom, body: Body, query: URLSearchParams) => unknown;

const POST_ROUTES: Record<string, Route> = {
  'customer-message': (f, b) => f.customerMessage(b as CustomerMessageInput),
  scan: (f, b) => f.scan(b as unknown as ScanInput),
  'servicer-message': (f, b) => f.servicerMessage(b as ServicerMessageInput),
  event: (f, b) => f.event(b as EventInput),
  'session-change': (f, b) => f.sessionChange(b as unknown as SessionChangeInput),
  recall: (f, b) => f.recall(b as unknown as RecallInput),
  'reject-switch': (f, b) => f.rejectSwitch(b as unknown as RejectSwitchInput),
  'servicer-status': (f, b) => f.servicerStatus(b as unknown as ServicerStatusInput),
  'customer-profile': (f, b) => {
    f.setCustomerProfile(b as unknown as CustomerProfileInput);
    return {};
  },
  'profile-batches': (f) => ({ batches: f.profileBatches }),
  callback: async (f, b) => ({ callbacks: await f.callback(b as CallbackInput) }),
  'callback-raw': (f, b) => f.callbackRaw(b as RawCallbackInput),
  faults: (f, b) => {
    const list = Array.isArray(b['faults']) ? (b['faults'] as FaultSpec[]) : [b as unknown as FaultSpec];
    f.faults(...list);
    return { pending: f.faultsPending() };
  },
  'faults/clear': (f) => {
    f.clearFaults();
    return {};
  },
  'expire-tokens': (f) => {
    f.expireTokens();
    return {};
  },
  'rate-limit': (f, b) => {
    f.setRateLimit(Number(b['per_minute']));
    return {};
  },
  'large-media': (f, b) => {
    f.setLargeMediaThreshold(Number(b['threshold_bytes']));
    return {};
  },
  'advance-clock': (f, b) => {
    f.advanceClock(Number(b['ms']));
    return {};
  },
  'callback-urls': (f, b) => {
    const urls = b['urls'];
    if (!Array.isArray(urls) || !urls.every((u) => typeof u === 'string')) {
      throw new ControlError('CONTROL_BAD_REQUEST', 'urls must be an array of strings');
    }
    f.setCallbackUrls(urls as string[]);
    return { urls: f.callbackUrls };
  },
  reset: (f) => {
    f.reset();
    return {};
  },
};

const GET_ROUTES: Record<string, Route> = {
  sent: (f, _b, q) => ({ sent: f.sent(q.has('touser') ? { touser: q.get('touser') ?? '' } : {}) }),
  messages: (f) => ({ messages: f.messages() }),
  served: (f) => ({ served: f.served() }),
  'media-downloads': (f) => ({ downloads: f.mediaDownloads() }),
  sessions: (f) => ({ sessions: f.sessions() }),
  faults: (f) => ({ pending: f.faultsPending() }),
  stats: (f) => f.stats(),
  info: (f) => ({
    url: f.url,
    corp_id: f.options.corpId,
    open_kfid: f.options.openKfid,
    open_kfids: f.options.openKfids,
    callback_urls: f.callbackUrls,
  }),
};

/** Serves /control/*: JSON in, JSON out; a bad request is answered 400 with {error: {code, message}}. */
export async function handleControl(fake: FakeWecom, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const name = url.pathname.slice('/control/'.length);
  const routes = req.method === 'POST' ? POST_ROUTES : req.method === 'GET' ? GET_ROUTES : {};
  const route = routes[name];
  if (!route) {
    sendJson(res, 404, { error: { code: 'CONTROL_NOT_FOUND', message: `no control ${req.method} ${name}` } });
    return;
  }
  try {
    let body: Body = {};
    if (req.method === 'POST') {
      const parsed = parseJsonObject(await readBody(req, MAX_CONTROL_BODY_BYTES));
      if (!parsed) throw new ControlError('CONTROL_BAD_REQUEST', 'body must be a JSON object');
      body = parsed;
    }
    sendJson(res, 200, (await route(fake, body, url.searchParams)) ?? {});
  } catch (err) {
    if (err instanceof ControlError) {
      sendJson(res, 400, { error: { code: err.code, message: err.message } });
    } else if (err instanceof BodyTooLargeError) {
      sendJson(res, 413, { error: { code: 'CONTROL_BAD_REQUEST', message: err.message } });
    } else {
      throw err;
    }
  }
}
