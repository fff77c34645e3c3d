import type { AppendResult, CustomerMessageInput, EventInput, ScanInput, ScanResult, ServicerMessageInput } from './control-types.js';
import { ControlError, requireString } from './control-error.js';
import type { FakeState } from './fake-state.js';
import { randomId } from './ids.js';
import type { MediaType } from './media-store.js';
import type { KfLogMessage } from './message-log.js';
import { sampleMedia } from './sample-media.js';

/** welcome_code may be used for 20 s (reference §3.2). */
const WELCOME_CODE_MS = 20_000;
/** A msg_code from a session taken from the pool works for 48 h, one from a session ended for 20 s (reference §3.2). */
const TAKEN_CODE_MS = 48 * 3600 * 1000;
const ENDED_CODE_MS = 20_000;

/**
 * A code an event announces is one WeCom issued: redeemable once through send_msg_on_event within its time
 * (welcome_code of enter_session; msg_code of session_status_change 1 "taken from the pool" and 3 "ended").
 */
function registerAnnouncedCode(state: FakeState, event: Record<string, unknown>): void {
  const user = event['external_userid'];
  if (typeof user !== 'string') return;
  const welcome = event['welcome_code'];
  if (event['event_type'] === 'enter_session' && typeof welcome === 'string' && welcome !== '') {
    state.eventCodes.register(welcome, user, WELCOME_CODE_MS, typeof event["open_kfid"] === "string" ? event["open_kfid"] : undefined);
  }
  const msgCode = event['msg_code'];
  const change = event['change_type'];
  if (event['event_type'] === 'session_status_change' && typeof msgCode === 'string' && (change === 1 || change === 3)) {
    state.eventCodes.register(msgCode, user, change === 1 ? TAKEN_CODE_MS : ENDED_CODE_MS);
  }
}
/** scene_param is at most 128 bytes; whether before or after encoding is UNCONFIRMED, the decoded form is checked. */
const MAX_SCENE_PARAM_BYTES = 128;
/** Request fields that steer the fake rather than become part of the message payload. */
const CONTROL_KEYS = new Set([
  'external_userid',
  'servicer_userid',
  'msgtype',
  'content',
  'media_base64',
  'media_mime',
  'media_filename',
  'media_size',
  'deliver',
  'open_kfid',
]);
const MEDIA_TYPES = new Set<string>(['image', 'voice', 'video', 'file']);
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** The largest generated file: WeCom's inbound file cap (reference §2.2). */
const MAX_GENERATED_BYTES = 20 * 1024 * 1024;

/**
 * A file of `size` bytes that a test can recompute (byte i is i mod 251), so large media need not travel through
 * the control API as base64.
 */
export function generatedMedia(size: number): Buffer {
  const data = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) data[i] = i % 251;
  return data;
}

function decodeMedia(input: Record<string, unknown>, msgtype: string): { data: Buffer; mime: string } {
  const size = input['media_size'];
  if (size !== undefined) {
    if (typeof size !== 'number' || !Number.isInteger(size) || size < 6 || size > MAX_GENERATED_BYTES) {
      throw new ControlError('CONTROL_BAD_REQUEST', `media_size must be an integer 6..${MAX_GENERATED_BYTES}`);
    }
    const mime = typeof input['media_mime'] === 'string' ? input['media_mime'] : sampleMedia(msgtype).mime;
    return { data: generatedMedia(size), mime };
  }
  const b64 = input['media_base64'];
  if (b64 === undefined) return sampleMedia(msgtype);
  if (typeof b64 !== 'string' || !BASE64.test(b64)) throw new ControlError('CONTROL_BAD_REQUEST', 'media_base64 is not base64');
  const mime = typeof input['media_mime'] === 'string' ? input['media_mime'] : sampleMedia(msgtype).mime;
  return { data: Buffer.from(b64, 'base64'), mime };
}

/** The msgtype's payload object: text content, stored media, or the caller's extra fields. */
function buildPayload(state: FakeState, msgtype: string, input: Record<string, unknown>): Record<string, unknown> {
  const explicit = input[msgtype];
  if (typeof explicit === 'object' && explicit !== null && !Array.isArray(explicit)) return { ...explicit };
  const extra = Object.fromEntries(Object.entries(input).filter(([k]) => !CONTROL_KEYS.has(k)));
  if (msgtype === 'text') {
    return { content: typeof input['content'] === 'string' ? input['content'] : '', ...extra };
  }
  if (MEDIA_TYPES.has(msgtype)) {
    const { data, mime } = decodeMedia(input, msgtype);
    const filename = typeof input['media_filename'] === 'string' ? input['media_filename'] : undefined;
    return { media_id: state.media.put(msgtype as MediaType, data, mime, filename).mediaId };
  }
  return extra;
}

/** Appends to one kf account's stream and announces it with that account's callback. */
async function appendAndAnnounce(state: FakeState, openKfid: string, message: KfLogMessage, deliver: unknown): Promise<AppendResult> {
  state.log.append(openKfid, message);
  const callbacks = deliver === false ? [] : await state.callbacks.announce(state.callbackUrls, 1, false, openKfid);
  return { msgid: message.msgid, message, callbacks };
}

function newMsgid(): string {
  return randomId(32);
}

/** A WeCom customer writes to the kf account (origin 3). */
export async function customerMessage(state: FakeState, input: CustomerMessageInput): Promise<AppendResult> {
  const externalUserid = requireString(input, 'external_userid');
  const msgtype = requireString(input, 'msgtype');
  const openKfid = state.account(input.open_kfid);
  const message: KfLogMessage = {
    msgid: newMsgid(),
    open_kfid: openKfid,
    external_userid: externalUserid,
    send_time: state.clock.nowSeconds(),
    origin: 3,
    msgtype,
    [msgtype]: buildPayload(state, msgtype, input),
  };
  state.sessions.customerActivity(externalUserid, openKfid);
  return appendAndAnnounce(state, openKfid, message, input.deliver);
}

/**
 * A WeCom customer scans a contact-way URL: an enter_session event with scene, scene_param (only for a link created
 * with a scene) and welcome_code. A link the fake did not issue, or whose parameters were altered, is refused.
 */
export async function scan(state: FakeState, input: ScanInput): Promise<ScanResult> {
  const externalUserid = requireString(input, 'external_userid');
  // Refused links produce no event at all, as WeCom sends no callback for them (reference §3.3).
  const { scene, sceneParam, openKfid } = state.contactWays.open(requireString(input, 'url'));
  if (input.open_kfid !== undefined && input.open_kfid !== openKfid) {
    throw new ControlError('CONTROL_SCAN_REFUSED', `the link belongs to kf account ${openKfid}, not ${String(input.open_kfid)}`);
  }
  if (sceneParam !== null && Buffer.byteLength(sceneParam, 'utf8') > MAX_SCENE_PARAM_BYTES) {
    throw new ControlError('CONTROL_BAD_REQUEST', `scene_param exceeds ${MAX_SCENE_PARAM_BYTES} bytes`);
  }
  let welcomeCode: string | null = null;
  if (input.with_welcome_code !== false) {
    welcomeCode = randomId(43);
    state.eventCodes.register(welcomeCode, externalUserid, WELCOME_CODE_MS, openKfid);
  }
  const event: Record<string, unknown> = {
    event_type: 'enter_session',
    open_kfid: openKfid,
    external_userid: externalUserid,
    scene,
    ...(sceneParam !== null ? { scene_param: sceneParam } : {}),
    ...(welcomeCode !== null ? { welcome_code: welcomeCode } : {}),
  };
  const message: KfLogMessage = { msgid: newMsgid(), send_time: state.clock.nowSeconds(), origin: 4, msgtype: 'event', event };
  state.sessions.customerActivity(externalUserid, openKfid);
  const appended = await appendAndAnnounce(state, openKfid, message, input.deliver);
  return { ...appended, welcome_code: welcomeCode, scene, scene_param: sceneParam };
}

/** A human servicer writes from the WeCom client (origin 5); sync_msg returns it, a bot relay should not echo it. */
export async function servicerMessage(state: FakeState, input: ServicerMessageInput): Promise<AppendResult> {
  const externalUserid = requireString(input, 'external_userid');
  const servicer = requireString(input, 'servicer_userid');
  const msgtype = typeof input.msgtype === 'string' && input.msgtype !== '' ? input.msgtype : 'text';
  const openKfid = state.account(input.open_kfid);
  const message: KfLogMessage = {
    msgid: newMsgid(),
    open_kfid: openKfid,
    external_userid: externalUserid,
    send_time: state.clock.nowSeconds(),
    origin: 5,
    servicer_userid: servicer,
    msgtype,
    [msgtype]: buildPayload(state, msgtype, input),
  };
  return appendAndAnnounce(state, openKfid, message, input.deliver);
}

/** A system event (origin 4) such as msg_send_fail; open_kfid defaults to the fake's kf account. */
export async function systemEvent(state: FakeState, input: EventInput): Promise<AppendResult> {
  requireString(input, 'event_type');
  const { deliver, ...fields } = input;
  const openKfid = state.account(fields['open_kfid']);
  const event = { ...fields, open_kfid: openKfid };
  registerAnnouncedCode(state, event);
  const message: KfLogMessage = { msgid: newMsgid(), send_time: state.clock.nowSeconds(), origin: 4, msgtype: 'event', event };
  return appendAndAnnounce(state, openKfid, message, deliver);
}
