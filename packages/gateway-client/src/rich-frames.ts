/**
 * The opt-in frames of docs/protocol.md (features `rich_outbound`, `media_by_reference`), written out by hand like
 * wire-frames.ts: typed bodies for every `send` kind, `send_on_event`, `recall` and `service_state`.
 */
import { CS_PLATFORM, frameType, userField, type WireDialect, type WireFrame } from './wire-frames.js';

/** Media as bytes in a frame (the relay uploads it to WeCom). */
export interface MediaBody {
  /** Base64 of the file; or give `media_url` instead. */
  media_data?: string;
  /** Where the relay fetches the file from (http(s), no redirects; public addresses unless the relay allows more). */
  media_url?: string;
  media_mime?: string;
  /** The name the customer sees (files). */
  filename?: string;
}

/** One item of a menu message. */
export type MenuItem =
  | { type: 'click'; click: { id: string; content: string } }
  | { type: 'view'; view: { url: string; content: string } }
  | { type: 'miniprogram'; miniprogram: { appid: string; pagepath: string; content: string } };

/** A menu message (msgmenu): at most 10 items. */
export interface MenuBody {
  head_content?: string;
  list?: MenuItem[];
  tail_content?: string;
}

/** The object a `send` carries for each msgtype (WeCom's kf/send_msg body, media as bytes). */
export interface SendBodies {
  text: { content: string };
  image: MediaBody;
  voice: MediaBody;
  video: MediaBody;
  file: MediaBody;
  link: { title: string; desc?: string; url: string; thumb_data: string; thumb_mime?: string };
  miniprogram: { appid: string; title?: string; pagepath: string; thumb_data: string; thumb_mime?: string };
  msgmenu: MenuBody;
  location: { latitude: number; longitude: number; name?: string; address?: string };
}

/** A msgtype `send` takes. */
export type SendMsgType = keyof SendBodies;

/** A msgtype `send_on_event` takes (kf/send_msg_on_event sends only these). */
export type OnEventMsgType = 'text' | 'msgmenu';

/** A move of the customer's session: 0 new, 1 smart assistant (the bot), 2 queue, 3 a human (servicer), 4 ended. */
export interface ServiceStateMove {
  serviceState: 0 | 1 | 2 | 3 | 4;
  /** Required for 3: the servicer's WeCom userid. */
  servicerUserId?: string;
}

function withPlatform(dialect: WireDialect, frame: WireFrame): WireFrame {
  if (dialect === 'cs') frame.platform = CS_PLATFORM;
  return frame;
}

/** `send`: one message of any kind kf/send_msg takes. */
export function sendFrame<T extends SendMsgType>(dialect: WireDialect, id: string, user: string, msgtype: T, body: SendBodies[T]): WireFrame {
  return withPlatform(dialect, { type: frameType(dialect, 'send'), id, [userField(dialect)]: user, msgtype, [msgtype]: body });
}

/** `send_on_event`: a text or menu sent with an event's code (welcome_code of session_entered, msg_code). */
export function sendOnEventFrame<T extends OnEventMsgType>(
  dialect: WireDialect,
  id: string,
  user: string,
  code: string,
  msgtype: T,
  body: SendBodies[T],
): WireFrame {
  return withPlatform(dialect, { type: frameType(dialect, 'send_on_event'), id, [userField(dialect)]: user, code, msgtype, [msgtype]: body });
}

/** `recall`: withdraw a message this gateway sent, by WeCom's msgid from its ack. */
export function recallFrame(dialect: WireDialect, id: string, msgid: string): WireFrame {
  return withPlatform(dialect, { type: frameType(dialect, 'recall'), id, msgid });
}

/** `service_state`: read the customer's session state, or move it. */
export function serviceStateFrame(dialect: WireDialect, id: string, user: string, move?: ServiceStateMove): WireFrame {
  const frame: WireFrame = { type: frameType(dialect, 'service_state'), id, [userField(dialect)]: user };
  if (move) {
    frame.service_state = move.serviceState;
    if (move.servicerUserId !== undefined) frame.servicer_userid = move.servicerUserId;
  }
  return withPlatform(dialect, frame);
}

/** A media file fetched from a `media_url` (feature `media_by_reference`), its body still streaming. */
export interface FetchedMedia {
  mime: string;
  /** Content-Length, when the relay sent it. */
  size: number | null;
  /** Content-Disposition (WeCom's file name), when given. */
  disposition: string | null;
  /** The bytes, to be read once. */
  body: ReadableStream<Uint8Array>;
}

/** The relay's refusal of a media link: its stable code (MEDIA_LINK_EXPIRED, MEDIA_LINK_INVALID, ...). */
export interface MediaRefusal {
  status: number;
  code: string;
  message: string;
  wecomErrcode?: number;
}

/** Fetches a media link; the media with its body unread, or the relay's refusal. */
export async function fetchMediaLink(url: string, timeoutMs: number): Promise<FetchedMedia | MediaRefusal> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (res.status !== 200 || !res.body) {
    let body: Record<string, unknown> = {};
    try {
      body = (await res.json()) as Record<string, unknown>;
    } catch {
      // Not the relay's JSON refusal (a proxy page): the status alone says it.
    }
    const refusal: MediaRefusal = {
      status: res.status,
      code: typeof body.code === 'string' ? body.code : `HTTP_${res.status}`,
      message: typeof body.message === 'string' ? body.message : res.statusText,
    };
    if (typeof body.wecom_errcode === 'number') refusal.wecomErrcode = body.wecom_errcode;
    return refusal;
  }
  const length = Number(res.headers.get('content-length'));
  return {
    mime: (res.headers.get('content-type') ?? 'application/octet-stream').split(';')[0]!.trim(),
    size: res.headers.has('content-length') && Number.isSafeInteger(length) ? length : null,
    disposition: res.headers.get('content-disposition'),
    body: res.body,
  };
}
