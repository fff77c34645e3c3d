import type { HttpAnswer } from './http-request.js';
import { isJsonAnswer, jsonAnswerAsError, mimeOf, parseContentRange, type ContentRange } from './media-download.js';
import { WecomApiError } from './wecom-api-error.js';
import type { AttemptOutcome, WecomHttp } from './wecom-http.js';

/** A WeCom media file being streamed: its headers are known, its bytes come as they are read. */
export interface OpenedMedia {
  mime: string;
  /** The file's size in bytes, when WeCom said it. */
  size: number | null;
  /** WeCom's Content-Disposition (the file name), when given. */
  disposition: string | null;
  /** The bytes in order; a later Range request failing throws from here. */
  chunks: AsyncIterable<Uint8Array>;
  /** Stops reading (the fetcher went away); the open WeCom answer is abandoned. */
  cancel(): Promise<void>;
}

type FirstAnswer = { kind: 'whole'; res: HttpAnswer } | { kind: 'part'; res: HttpAnswer; range: ContentRange };

function badAnswer<T>(api: string, why: string): AttemptOutcome<T> {
  return { kind: 'fatal', error: new WecomApiError('WECOM_API_ERROR', { api, errcode: 0, errmsg: why }) };
}

/**
 * Opens media/get as a stream, asking for the first `chunkBytes` with Range (WeCom answers 830002 to a large file
 * fetched whole, reference §3.5) and the rest chunk by chunk as the reader consumes it: at most one chunk is in
 * flight and nothing is held beyond what the reader has not taken yet. A server that ignores Range answers 200
 * with the whole file, which is streamed as is. WeCom's refusal (a JSON errcode) throws before any byte is read.
 */
export async function openMediaStream(http: WecomHttp, p: { api: string; mediaId: string; chunkBytes: number }): Promise<OpenedMedia> {
  const first = await http.call<FirstAnswer>({
    api: p.api,
    method: 'GET',
    query: { media_id: p.mediaId },
    headers: { range: `bytes=0-${p.chunkBytes - 1}` },
    read: async (res) => {
      if (isJsonAnswer(res)) return jsonAnswerAsError(res, p.api);
      if (res.status === 200) return { kind: 'ok', value: { kind: 'whole', res } };
      const range = res.status === 206 ? parseContentRange(res.header('content-range')) : null;
      if (!range || range.first !== 0) {
        res.cancel();
        return badAnswer(p.api, `first range answered HTTP ${res.status} ${res.header('content-range') ?? ''}`.trim());
      }
      return { kind: 'ok', value: { kind: 'part', res, range } };
    },
  });
  let reading: HttpAnswer = first.res;
  let cancelled = false;
  // Reads one answer's body; the answer is kept so cancel() can end a read that is waiting on WeCom.
  async function* bodyOf(res: HttpAnswer): AsyncGenerator<Uint8Array> {
    reading = res;
    try {
      for await (const chunk of res.body) {
        if (cancelled) return;
        yield chunk;
      }
    } catch (err) {
      // Cancelling destroys the answer mid-read; that ends the stream, it is not a failure.
      if (!cancelled) throw err;
    }
  }
  const declared = Number(first.res.header('content-length'));
  const size = first.kind === 'part' ? first.range.total : Number.isSafeInteger(declared) && declared >= 0 ? declared : null;

  async function* chunks(): AsyncGenerator<Uint8Array> {
    yield* bodyOf(first.res);
    if (first.kind === 'whole') return;
    const total = first.range.total;
    let next = first.range.last + 1;
    while (next < total && !cancelled) {
      const want = { first: next, last: Math.min(next + p.chunkBytes - 1, total - 1) };
      const res = await http.call<HttpAnswer>({
        api: p.api,
        method: 'GET',
        query: { media_id: p.mediaId },
        headers: { range: `bytes=${want.first}-${want.last}` },
        read: async (res) => {
          if (isJsonAnswer(res)) return jsonAnswerAsError(res, p.api);
          const got = res.status === 206 ? parseContentRange(res.header('content-range')) : null;
          if (!got || got.first !== want.first || got.last !== want.last || got.total !== total) {
            res.cancel();
            return badAnswer(p.api, `range ${want.first}-${want.last} answered HTTP ${res.status} ${res.header('content-range') ?? ''}`.trim());
          }
          return { kind: 'ok', value: res };
        },
      });
      let read = 0;
      for await (const chunk of bodyOf(res)) {
        read += chunk.byteLength;
        yield chunk;
      }
      if (cancelled) return;
      if (read !== want.last - want.first + 1) {
        throw new WecomApiError('WECOM_API_ERROR', { api: p.api, errcode: 0, errmsg: `range ${want.first}-${want.last} had ${read} bytes` });
      }
      next = want.last + 1;
    }
  }

  return {
    mime: mimeOf(first.res) || 'application/octet-stream',
    size,
    disposition: first.res.header('content-disposition'),
    chunks: chunks(),
    async cancel() {
      cancelled = true;
      reading.cancel();
    },
  };
}
