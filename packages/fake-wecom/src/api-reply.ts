import { ERRCODE, errmsgFor } from './errcodes.js';

/** A JSON answer of a WeCom API: errcode and errmsg always present, HTTP 200 even for errors, as WeCom does. */
export type JsonReply = { errcode: number; errmsg: string } & Record<string, unknown>;

/** A raw download (media/get). */
export interface BytesReply {
  /** HTTP status; default 200 (206 and 416 answer Range requests). */
  status?: number;
  bytes: Buffer;
  headers: Record<string, string>;
}

/** What an API handler produces. */
export type ApiReply = JsonReply | BytesReply;

/** Whether a reply is a download rather than JSON. */
export function isBytesReply(reply: ApiReply): reply is BytesReply {
  return 'bytes' in reply && Buffer.isBuffer(reply.bytes);
}

/** An error answer. */
export function fail(errcode: number, detail?: string): JsonReply {
  return { errcode, errmsg: errmsgFor(errcode, detail) };
}

/** A success answer with extra fields. */
export function ok(fields: Record<string, unknown> = {}): JsonReply {
  return { errcode: ERRCODE.OK, errmsg: 'ok', ...fields };
}
