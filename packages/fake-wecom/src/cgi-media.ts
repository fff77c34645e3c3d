import { fail, isBytesReply, type ApiReply, type JsonReply } from './api-reply.js';
import { parseRangeHeader } from './byte-range.js';
import { ERRCODE } from './errcodes.js';
import type { FakeState } from './fake-state.js';
import { extensionFor, type MediaType } from './media-store.js';
import { sniffMediaKind } from './sample-media.js';

/** Every file must be larger than 5 bytes (reference §3.4). */
const MIN_BYTES = 6;
/** Size caps; the image cap follows the older 2 MB figure because 10 MB is UNCONFIRMED (reference §3.4). */
const MAX_BYTES: Record<MediaType, { bytes: number; errcode: number }> = {
  image: { bytes: 2 * 1024 * 1024, errcode: ERRCODE.INVALID_IMAGE_SIZE },
  voice: { bytes: 2 * 1024 * 1024, errcode: ERRCODE.INVALID_VOICE_SIZE },
  video: { bytes: 10 * 1024 * 1024, errcode: ERRCODE.INVALID_VIDEO_SIZE },
  file: { bytes: 20 * 1024 * 1024, errcode: ERRCODE.INVALID_FILE_SIZE },
};

/** The largest request media/upload reads: the biggest file plus multipart overhead. */
export const MAX_UPLOAD_REQUEST_BYTES = 20 * 1024 * 1024 + 64 * 1024;

function isMediaType(t: string | null): t is MediaType {
  return t === 'image' || t === 'voice' || t === 'video' || t === 'file';
}

/** POST media/upload?type=…, multipart with the file in field `media`. */
export async function uploadMedia(state: FakeState, query: URLSearchParams, contentType: string, body: Buffer): Promise<JsonReply> {
  const type = query.get('type');
  if (!isMediaType(type)) return fail(ERRCODE.INVALID_MEDIA_TYPE, 'invalid media type');
  if (!contentType.toLowerCase().startsWith('multipart/form-data')) return fail(ERRCODE.EMPTY_MEDIA, 'not multipart/form-data');
  let form: FormData;
  try {
    form = await new Response(body, { headers: { 'content-type': contentType } }).formData();
  } catch {
    return fail(ERRCODE.EMPTY_MEDIA, 'multipart body could not be parsed');
  }
  const file = form.get('media');
  if (file === null || typeof file === 'string') return fail(ERRCODE.EMPTY_MEDIA, 'field media is missing');
  const data = Buffer.from(await file.arrayBuffer());
  if (data.length === 0) return fail(ERRCODE.EMPTY_MEDIA, 'empty media data');
  if (data.length < MIN_BYTES) return fail(ERRCODE.INVALID_FILE_SIZE, 'media must be larger than 5 bytes');
  const cap = MAX_BYTES[type];
  if (data.length > cap.bytes) return fail(cap.errcode, `${type} exceeds ${cap.bytes} bytes`);
  const kind = sniffMediaKind(data);
  if (type === 'image' && kind !== 'jpeg' && kind !== 'png') return fail(ERRCODE.INVALID_FILE_TYPE, 'image must be JPG or PNG');
  if (type === 'voice' && kind !== 'amr') return fail(ERRCODE.INVALID_FILE_TYPE, 'voice must be AMR');
  const mime = kind === 'png' ? 'image/png' : kind === 'jpeg' ? 'image/jpeg' : kind === 'amr' ? 'voice/amr' : file.type || 'application/octet-stream';
  const stored = state.media.put(type, data, mime, file.name || undefined);
  return {
    errcode: ERRCODE.OK,
    errmsg: '',
    type,
    media_id: stored.mediaId,
    created_at: String(Math.floor(stored.createdAt / 1000)),
  };
}

/**
 * WeCom's answer to media/get for a file too large for one download: fetch it with Range (reference §3.5). Kept
 * here rather than in ERRCODE because only this handler answers it.
 */
export const ERRCODE_MEDIA_NEEDS_RANGE = 830002;

/**
 * GET media/get?media_id=…: the bytes as a download, the slice a `Range` header asks for (206, or 416 past the end),
 * JSON 40007 for an unknown id, or JSON 830002 for a file above the large-media threshold fetched without Range.
 */
export function getMedia(state: FakeState, query: URLSearchParams, rangeHeader?: string): ApiReply {
  const reply = answerMediaGet(state, query, rangeHeader);
  state.media.noteDownload({
    media_id: query.get('media_id') ?? '',
    range: rangeHeader ?? null,
    status: isBytesReply(reply) ? (reply.status ?? 200) : 200,
    bytes: isBytesReply(reply) ? reply.bytes.length : 0,
  });
  return reply;
}

function answerMediaGet(state: FakeState, query: URLSearchParams, rangeHeader?: string): ApiReply {
  const mediaId = query.get('media_id');
  const stored = mediaId ? state.media.get(mediaId) : null;
  if (!stored) return fail(ERRCODE.INVALID_MEDIA_ID, 'invalid media_id');
  const size = stored.data.length;
  const headers: Record<string, string> = {
    'content-type': stored.mime,
    'content-disposition': `attachment; filename="${stored.mediaId}.${extensionFor(stored.mime)}"`,
    'accept-ranges': 'bytes',
  };
  const asked = parseRangeHeader(rangeHeader, size);
  if (asked.kind === 'unsatisfiable') {
    return { status: 416, bytes: Buffer.alloc(0), headers: { 'content-range': `bytes */${size}` } };
  }
  if (asked.kind === 'slice') {
    const { first, last } = asked.range;
    return {
      status: 206,
      bytes: stored.data.subarray(first, last + 1),
      headers: { ...headers, 'content-range': `bytes ${first}-${last}/${size}` },
    };
  }
  // WeCom does not document the size from which it answers 830002 (UNCONFIRMED); the fake makes it a setting.
  if (size > state.largeMediaThresholdBytes) {
    return fail(ERRCODE_MEDIA_NEEDS_RANGE, 'media file too large, download it in parts with a Range header');
  }
  return { bytes: stored.data, headers };
}
