/** Typed bodies of the `rich_outbound` commands (docs/protocol.md of the relay). */

/** Media as bytes (base64) in a frame; the relay uploads it to WeCom. */
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

/** The object `send` carries per msgtype (WeCom's kf/send_msg body, media as bytes); limits are WeCom's. */
export interface SendBodies {
  text: { content: string };
  image: MediaBody;
  voice: MediaBody;
  video: MediaBody;
  file: MediaBody;
  link: { title: string; desc?: string; url: string; thumb_data: string; thumb_mime?: string };
  miniprogram: { appid: string; title?: string; pagepath: string; thumb_data: string; thumb_mime?: string };
  msgmenu: { head_content?: string; list?: MenuItem[]; tail_content?: string };
  location: { latitude: number; longitude: number; name?: string; address?: string };
}

/** A msgtype `send` takes. */
export type SendMsgType = keyof SendBodies;

/** A msgtype `sendOnEvent` takes. */
export type OnEventMsgType = 'text' | 'msgmenu';

/** A move of the customer's session: 0 new, 1 smart assistant (the bot), 2 queue, 3 a human servicer, 4 ended. */
export interface ServiceStateMove {
  serviceState: 0 | 1 | 2 | 3 | 4;
  /** Required for 3. */
  servicerUserId?: string;
}

/** The answer to `serviceState`: the session's state after any move, and WeCom's msg_code for a move. */
export interface ServiceStateResult {
  id: string;
  serviceState: number;
  servicerUserId?: string;
  msgCode?: string;
}

/** A media file from a `mediaUrl`, its body still streaming. */
export interface FetchedMedia {
  mime: string;
  /** Content-Length, when sent. */
  size: number | null;
  /** Content-Disposition (WeCom's file name), when given. */
  disposition: string | null;
  body: ReadableStream<Uint8Array>;
}
