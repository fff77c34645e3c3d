import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { fail, isBytesReply, ok, type ApiReply } from './api-reply.js';
import { getServiceState, recallMsg } from './cgi-kf-session.js';
import { batchGetCustomers } from './customer-profiles.js';
import { addContactWay, sendMsg, sendMsgOnEvent, syncMsg, transServiceState } from './cgi-kf.js';
import { MAX_UPLOAD_REQUEST_BYTES, getMedia, uploadMedia } from './cgi-media.js';
import { ERRCODE } from './errcodes.js';
import type { FakeState } from './fake-state.js';
import { apiName, type FaultSpec } from './fault-queue.js';
import { BodyTooLargeError, parseJsonObject, readBody, sendBytes, sendJson } from './http-io.js';

/** JSON APIs never need more than this; a bigger body is a client bug. */
const MAX_JSON_BODY_BYTES = 1024 * 1024;

type JsonHandler = (state: FakeState, body: Record<string, unknown>) => ApiReply;

const JSON_POST_APIS: Record<string, JsonHandler> = {
  'kf/sync_msg': syncMsg,
  'kf/send_msg': sendMsg,
  'kf/send_msg_on_event': sendMsgOnEvent,
  'kf/add_contact_way': addContactWay,
  'kf/service_state/trans': transServiceState,
  'kf/service_state/get': getServiceState,
  'kf/recall_msg': recallMsg,
  'kf/customer/batchget': batchGetCustomers,
};

const GET_APIS = new Set(['gettoken', 'media/get']);

function gettoken(state: FakeState, query: URLSearchParams): ApiReply {
  const corpid = query.get('corpid');
  const secret = query.get('corpsecret');
  if (!corpid) return fail(ERRCODE.MISSING_CORPID, 'corpid missing');
  if (!secret) return fail(ERRCODE.MISSING_SECRET, 'corpsecret missing');
  if (corpid !== state.opts.corpId) return fail(ERRCODE.INVALID_CORPID, 'invalid corpid');
  if (secret !== state.opts.corpSecret) return fail(ERRCODE.INVALID_SECRET, 'invalid credential');
  const issued = state.accessTokens.issue();
  return ok({ access_token: issued.accessToken, expires_in: issued.expiresIn });
}

/** Answers one API call once access token, rate limit and method have been checked. */
async function dispatch(state: FakeState, api: string, req: IncomingMessage, url: URL): Promise<ApiReply | null> {
  const method = req.method ?? 'GET';
  const known = api in JSON_POST_APIS || api === 'media/upload' || GET_APIS.has(api);
  if (!known) return null;
  if (!state.rateLimiter.take(api)) return fail(ERRCODE.FREQUENCY_LIMITED, 'api freq out of limit');
  if (GET_APIS.has(api) && method !== 'GET') return fail(ERRCODE.GET_REQUIRED, 'require GET method');
  if (!GET_APIS.has(api) && method !== 'POST') return fail(ERRCODE.POST_REQUIRED, 'require POST method');
  if (api === 'gettoken') return gettoken(state, url.searchParams);

  const tokenErr = state.accessTokens.check(url.searchParams.get('access_token'));
  if (tokenErr !== ERRCODE.OK) return fail(tokenErr);

  if (api === 'media/get') return getMedia(state, url.searchParams, req.headers.range);
  if (api === 'media/upload') {
    const body = await readBody(req, MAX_UPLOAD_REQUEST_BYTES);
    return uploadMedia(state, url.searchParams, req.headers['content-type'] ?? '', body);
  }
  const handler = JSON_POST_APIS[api];
  if (!handler) return null;
  const json = parseJsonObject(await readBody(req, MAX_JSON_BODY_BYTES));
  if (!json) return fail(ERRCODE.INVALID_JSON, 'data format error');
  return handler(state, json);
}

/** Applies a fault's answer; true when it replaced the normal one. */
function applyFault(state: FakeState, fault: FaultSpec, req: IncomingMessage, res: ServerResponse): boolean {
  if (fault.dropConnection) {
    req.socket.destroy();
    return true;
  }
  if (fault.httpStatus !== undefined) {
    const body = Buffer.from(`fake-wecom injected HTTP ${fault.httpStatus}`, 'utf8');
    sendBytes(res, fault.httpStatus, body, { 'content-type': 'text/plain; charset=utf-8' });
    return true;
  }
  if (fault.errcode !== undefined) {
    state.stats.answered(fault.errcode);
    sendJson(res, 200, fault.errmsg !== undefined ? { errcode: fault.errcode, errmsg: fault.errmsg } : fail(fault.errcode, 'injected fault'));
    return true;
  }
  return false;
}

/** Serves /cgi-bin/*: faults first, then the API itself, counting everything for the stats. */
export async function handleCgi(state: FakeState, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const api = apiName(url.pathname);
  state.stats.call(api);
  const fault = state.faults.take(api);
  if (fault?.delayMs) await sleep(fault.delayMs);
  if (fault && !fault.after && applyFault(state, fault, req, res)) return;
  if (fault?.stuckCursor) {
    const json = parseJsonObject(await readBody(req, MAX_JSON_BODY_BYTES).catch(() => Buffer.alloc(0)));
    const cursor = typeof json?.['cursor'] === 'string' ? json['cursor'] : '';
    state.stats.answered(ERRCODE.OK);
    sendJson(res, 200, ok({ next_cursor: cursor, has_more: 1, msg_list: [] }));
    return;
  }

  let reply: ApiReply | null;
  try {
    reply = await dispatch(state, api, req, url);
  } catch (err) {
    if (!(err instanceof BodyTooLargeError)) throw err;
    reply = fail(ERRCODE.INVALID_PARAMETER, 'request body too large');
  }
  if (fault?.after && applyFault(state, fault, req, res)) return;

  if (reply === null) {
    sendJson(res, 404, fail(ERRCODE.INVALID_PARAMETER, `unknown api ${api}`));
    return;
  }
  if (isBytesReply(reply)) {
    sendBytes(res, reply.status ?? 200, reply.bytes, reply.headers);
    return;
  }
  state.stats.answered(reply.errcode);
  if (reply.errcode !== ERRCODE.OK) state.logger.debug({ api, errcode: reply.errcode }, 'api answered an error');
  sendJson(res, 200, reply);
}
