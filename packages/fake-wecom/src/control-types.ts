/**
 * Requests and answers of the control surface (HTTP under /control/ and the same-named FakeWecom methods).
 * Field names are snake_case like WeCom's own JSON, so a test reads them the way the relay sees them.
 */
import type { FaultSpec } from './fault-queue.js';

export type { FaultSpec };

/** Outcome of POSTing one callback to one relay URL; status null when no HTTP answer came (refused, timed out). */
export interface CallbackResult {
  url: string;
  status: number | null;
  error?: string;
}

/** A WeCom customer sends a message. Extra fields become the msgtype's payload (e.g. latitude for location). */
export interface CustomerMessageInput {
  external_userid: string;
  /** text, image, voice, video, file, location, link, or any string (unknown types test the relay's tolerance). */
  msgtype: string;
  /** Text content for msgtype text. */
  content?: string;
  /** Media bytes for image/voice/video/file; a small sample is used when absent. */
  media_base64?: string;
  media_mime?: string;
  media_filename?: string;
  /** Instead of media_base64: a generated file of this many bytes (byte i is i mod 251; see generatedMedia). */
  media_size?: number;
  /** Whether to POST a callback to the relays; default true. */
  deliver?: boolean;
  /** The kf account written to; default the fake's first. */
  open_kfid?: string;
  [field: string]: unknown;
}

/** What appending to the kf log produced. */
export interface AppendResult {
  msgid: string;
  /** The message as sync_msg returns it. */
  message: Record<string, unknown>;
  callbacks: CallbackResult[];
}

/** A WeCom user scans a binding URL (from kf/add_contact_way, maybe with &scene_param=...). */
export interface ScanInput {
  external_userid: string;
  url: string;
  /** Whether the enter_session event carries a welcome_code; default true. */
  with_welcome_code?: boolean;
  /** Must be the account the link was issued for, if given (the link names its account). */
  open_kfid?: string;
  deliver?: boolean;
}

/** The enter_session event that a scan produced. */
export interface ScanResult extends AppendResult {
  welcome_code: string | null;
  scene: string;
  scene_param: string | null;
}

/** A human servicer writes from the WeCom client (origin 5). */
export interface ServicerMessageInput {
  external_userid: string;
  servicer_userid: string;
  msgtype?: string;
  content?: string;
  deliver?: boolean;
  [field: string]: unknown;
}

/** A system event (origin 4), e.g. {event_type: "msg_send_fail", external_userid, fail_msgid, fail_type}. */
export interface EventInput {
  event_type: string;
  deliver?: boolean;
  [field: string]: unknown;
}

/** A servicer acts on a customer's session in the WeCom client (session_status_change). */
export interface SessionChangeInput {
  external_userid: string;
  /** 1 taken from the pool (default), 2 transferred, 3 ended, 4 re-entered. A human holds it after 1, 2, 4. */
  change_type?: number;
  /** The servicer who now holds it; required except for 3. */
  servicer_userid?: string;
  /** The kf account of the session; default the fake's first. */
  open_kfid?: string;
  deliver?: boolean;
}

/** The customer recalls a message they wrote (user_recall_msg). */
/** A servicer turns "reject the customer's messages" on or off (reject_customer_msg_switch_change). */
export interface RejectSwitchInput {
  external_userid: string;
  servicer_userid: string;
  /** true: the customer's messages are refused from now on (reject_switch 1); false: accepted again (0). */
  reject: boolean;
  /** The kf account of the session; default the fake's first. */
  open_kfid?: string;
  deliver?: boolean;
}

/** A servicer goes on or off duty (servicer_status_change). */
export interface ServicerStatusInput {
  servicer_userid: string;
  /** 1 receiving, 2 stopped receiving. */
  status: number;
  /** With status 2: 0 stopped, 1 suspended for now. */
  stop_type?: number;
  open_kfid?: string;
  deliver?: boolean;
}

export interface RecallInput {
  external_userid: string;
  recall_msgid: string;
  deliver?: boolean;
}

/** The profile kf/customer/batchget returns for a customer (nickname, avatar, gender, unionid, ...). */
export interface CustomerProfileInput {
  external_userid: string;
  nickname: string;
  [field: string]: unknown;
}

/** Deliver a callback without a new message: WeCom's retries and duplicate callbacks. */
export interface CallbackInput {
  /** Target URLs; default every configured callback URL. */
  urls?: string[];
  /** How many times the same callback goes to each URL; default 1. */
  times?: number;
  /** Send all copies at once rather than one after another. */
  concurrent?: boolean;
  /** The kf account the callback announces (OpenKfId and its Token); default the fake's first. */
  open_kfid?: string;
}

/** A hand-made callback for negative tests: anything not given is filled in correctly. */
export interface RawCallbackInput {
  url?: string;
  /** Whole POST body; replaces the envelope entirely. */
  body?: string;
  /** Encrypt value to put in the envelope and sign. */
  encrypt?: string;
  /** Plaintext XML to encrypt instead of a kf_msg_or_event. */
  plaintext?: string;
  msg_signature?: string;
  timestamp?: string;
  nonce?: string;
}

/** What the relay answered to a raw callback. */
export interface RawCallbackResult {
  url: string;
  status: number | null;
  body: string;
  error?: string;
}

/** One message the relay sent through kf/send_msg or kf/send_msg_on_event. */
export interface SentMessage {
  msgid: string;
  touser: string;
  open_kfid: string;
  msgtype: string;
  via: 'send_msg' | 'send_msg_on_event';
  /** Text content for text messages. */
  content?: string;
  media_id?: string;
  /** For media messages: the uploaded bytes and their mime type. */
  media_base64?: string;
  media_mime?: string;
  /** For send_msg_on_event: the code used. */
  code?: string;
  /** Unix seconds (fake clock). */
  sent_at: number;
  /** Set once the relay recalled it with kf/recall_msg. */
  recalled?: boolean;
  /** The request body as received. */
  body: Record<string, unknown>;
}

/** Counters since start or the last reset. */
export interface FakeWecomStats {
  /** Calls per API name ("gettoken", "kf/sync_msg", ...). */
  calls: Record<string, number>;
  /** Non-zero errcodes answered, per errcode. */
  errors: Record<string, number>;
  /** Distinct access tokens minted. */
  tokens_issued: number;
  callbacks_delivered: number;
  callbacks_failed: number;
}

/** A customer's kf session as the fake tracks it. */
export interface SessionInfo {
  external_userid: string;
  /** The kf account the session is with. */
  open_kfid: string;
  /** 0 new, 1 smart assistant, 2 pool, 3 human servicer, 4 ended. */
  service_state: number;
  servicer_userid?: string;
  /** Unix seconds of the last customer action that opened the send window, or null. */
  last_customer_at: number | null;
  /** send_msg calls accepted since then (at most 5). */
  sent_since_customer: number;
}
