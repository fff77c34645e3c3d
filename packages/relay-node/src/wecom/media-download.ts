import { WecomApiError, WecomMediaTooLargeError } from './wecom-api-error.js';
import type { HttpAnswer } from './http-request.js';
import { parseWecomJson, readWecomJson, type AttemptOutcome, type WecomHttp } from './wecom-http.js';

/** A downloaded media file. */
export interface DownloadedMedia {
  data: Buffer;
  /** From Content-Type, without parameters. */
  mime: string;
}

/**
 * media/get's answer for a file too large for one download: fetch it in Range chunks (reference §3.5). The size
 * from which WeCom answers it is not documented (UNCONFIRMED).
 */
export const ERRCODE_MEDIA_NEEDS_RANGE = 830002;

/** A `Content-Range: bytes first-last/total` header. */
export interface ContentRange {
  first: number;
  last: number;
  total: number;
}

/** Error bodies are tiny; a download this small that starts with "{" is checked for an errcode. */
const SNIFF_JSON_MAX_BYTES = 4096;

const CONTENT_RANGE = /^bytes\s+(\d+)-(\d+)\/(\d+)$/i;

/** Parses the Content-Range of a 206 answer; null when absent, malformed, of unknown total, or inconsistent. */
export function parseContentRange(header: string | null): ContentRange | null {
  const m = header === null ? null : CONTENT_RANGE.exec(header.trim());
  if (!m) return null;
  const [first, last, total] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (![first, last, total].every(Number.isSafeInteger) || last < first || last >= total) return null;
  return { first, last, total };
}

/** The answer's Content-Type without parameters, lower-cased ('' when absent). */
export function mimeOf(res: HttpAnswer): string {
  return (res.header('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/** Whether an answer is WeCom's JSON rather than file bytes. */
export function isJsonAnswer(res: HttpAnswer): boolean {
  const mime = mimeOf(res);
  return !res.ok || mime === 'application/json' || mime === 'text/plain';
}

/** A JSON answer to media/get is never a file: an errcode, a transport failure, or an unexpected success body. */
export async function jsonAnswerAsError<T>(res: HttpAnswer, api: string): Promise<AttemptOutcome<T>> {
  const outcome = await readWecomJson(res);
  if (outcome.kind !== 'ok') return outcome;
  return { kind: 'transport', message: `${api} answered JSON without an errcode`, retryable: false };
}

/**
 * Reads a whole media/get answer with a byte cap: past maxBytes the body is abandoned and WecomMediaTooLargeError
 * returned, so a huge file never sits in memory. A JSON body (by Content-Type, or sniffed) is WeCom's error answer.
 */
export async function readWholeDownload(
  res: HttpAnswer,
  api: string,
  mediaId: string,
  maxBytes: number,
): Promise<AttemptOutcome<DownloadedMedia>> {
  if (isJsonAnswer(res)) return jsonAnswerAsError(res, api);
  const tooLarge = () => new WecomMediaTooLargeError({ api, maxBytes, mediaId });
  const declared = Number(res.header('content-length'));
  if (Number.isFinite(declared) && declared > maxBytes) {
    res.cancel();
    return { kind: 'fatal', error: tooLarge() };
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res.body) {
    total += chunk.byteLength;
    if (total > maxBytes) {
      res.cancel();
      return { kind: 'fatal', error: tooLarge() };
    }
    chunks.push(chunk);
  }
  const data = Buffer.concat(chunks, total);
  if (data.length <= SNIFF_JSON_MAX_BYTES && data[0] === 0x7b) {
    const sniffed = parseWecomJson(data.toString('utf8'));
    if (sniffed.kind === 'errcode') return sniffed;
  }
  return { kind: 'ok', value: { data, mime: mimeOf(res) || 'application/octet-stream' } };
}

/** The file being assembled: its full size is known from the first chunk, so it is allocated once. */
interface PartialFile {
  data: Buffer;
  mime: string;
}

/** What one Range request produced. */
type ChunkResult =
  /** The server sent the whole file instead of the first chunk (it ignored Range). */
  | { kind: 'whole'; media: DownloadedMedia }
  | { kind: 'part'; file: PartialFile; last: number };

/** What a chunk request is for. */
interface ChunkWanted {
  api: string;
  mediaId: string;
  maxBytes: number;
  first: number;
  last: number;
  /** Null for the first chunk. */
  file: PartialFile | null;
}

/** A chunk that does not fit what was asked: WeCom (or something in front of it) misbehaved; not worth retrying. */
function badChunk<T>(want: ChunkWanted, why: string): AttemptOutcome<T> {
  const errmsg = `range ${want.first}-${want.last}: ${why}`;
  return { kind: 'fatal', error: new WecomApiError('WECOM_API_ERROR', { api: want.api, errcode: 0, errmsg }) };
}

/** Streams exactly `length` bytes into target at `at`; the count read, or null when the body ran past it. */
async function readInto(res: HttpAnswer, target: Buffer, at: number, length: number): Promise<number | null> {
  let written = 0;
  for await (const chunk of res.body) {
    if (written + chunk.byteLength > length) {
      res.cancel();
      return null;
    }
    target.set(chunk, at + written);
    written += chunk.byteLength;
  }
  return written;
}

/** The slice a 206 answer carries if it is the one asked for, else what is wrong with it. */
function checkRange(res: HttpAnswer, want: ChunkWanted): ContentRange | string {
  if (res.status !== 206) return `answered HTTP ${res.status}`;
  const range = parseContentRange(res.header('content-range'));
  if (!range) return 'Content-Range missing or malformed';
  if (range.first !== want.first || range.last > want.last) return `answered bytes ${range.first}-${range.last}`;
  if (want.file && range.total !== want.file.data.length) return `total changed to ${range.total} bytes`;
  return range;
}

/**
 * A 200 to a Range request: the server ignored Range. For the first chunk that is the whole file, still capped;
 * later, only an error body is of use.
 */
async function readIgnoredRange(res: HttpAnswer, want: ChunkWanted): Promise<AttemptOutcome<ChunkResult>> {
  if (!want.file) {
    const whole = await readWholeDownload(res, want.api, want.mediaId, want.maxBytes);
    return whole.kind === 'ok' ? { kind: 'ok', value: { kind: 'whole', media: whole.value } } : whole;
  }
  const small = await readWholeDownload(res, want.api, want.mediaId, SNIFF_JSON_MAX_BYTES);
  return small.kind === 'errcode' ? small : badChunk(want, 'answered 200 instead of 206');
}

/** Reads the answer to one Range request into the file, checking it is the slice that was asked for. */
async function readChunk(res: HttpAnswer, want: ChunkWanted): Promise<AttemptOutcome<ChunkResult>> {
  if (res.status === 416) {
    res.cancel();
    return badChunk(want, 'not satisfiable (HTTP 416)');
  }
  if (isJsonAnswer(res)) return jsonAnswerAsError(res, want.api);
  if (res.status === 200) return readIgnoredRange(res, want);
  const range = checkRange(res, want);
  if (typeof range === 'string') {
    res.cancel();
    return badChunk(want, range);
  }
  if (range.total > want.maxBytes) {
    // Known from the first chunk's header: refuse before reading or fetching any more of the file.
    res.cancel();
    return { kind: 'fatal', error: new WecomMediaTooLargeError({ api: want.api, maxBytes: want.maxBytes, mediaId: want.mediaId }) };
  }
  const length = range.last - range.first + 1;
  const declared = res.header('content-length');
  if (declared !== null && Number(declared) !== length) {
    res.cancel();
    return badChunk(want, `Content-Length ${declared} does not match Content-Range`);
  }
  const file = want.file ?? { data: Buffer.alloc(range.total), mime: mimeOf(res) || 'application/octet-stream' };
  const read = await readInto(res, file.data, range.first, length);
  if (read !== length) return badChunk(want, `body has ${read === null ? 'more' : read} bytes, expected ${length}`);
  return { kind: 'ok', value: { kind: 'part', file, last: range.last } };
}

/**
 * Downloads a file WeCom answered 830002 for, one Range request of at most chunkBytes at a time, each through the
 * call wrapper (token, retries, metrics). The first chunk's Content-Range total sizes one buffer; a total above
 * maxBytes is refused before any more is fetched. The first chunk's Content-Type is the file's.
 */
export async function downloadInRanges(
  http: WecomHttp,
  p: { api: string; mediaId: string; maxBytes: number; chunkBytes: number },
): Promise<DownloadedMedia> {
  let file: PartialFile | null = null;
  let next = 0;
  for (;;) {
    const first = next;
    const wanted = first + p.chunkBytes - 1;
    const want: ChunkWanted = {
      api: p.api,
      mediaId: p.mediaId,
      maxBytes: p.maxBytes,
      first,
      last: file ? Math.min(wanted, file.data.length - 1) : wanted,
      file,
    };
    const chunk = await http.call({
      api: p.api,
      method: 'GET',
      query: { media_id: p.mediaId },
      headers: { range: `bytes=${want.first}-${want.last}` },
      read: (res) => readChunk(res, want),
    });
    if (chunk.kind === 'whole') return chunk.media;
    file = chunk.file;
    next = chunk.last + 1;
    if (next >= file.data.length) return { data: file.data, mime: file.mime };
  }
}
