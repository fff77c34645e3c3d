import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Logger } from 'pino';
import { ERROR_CATALOG, type ErrorCode } from '../errors/error-catalog.js';
import type { OpenedMedia } from '../wecom/media-stream.js';
import { WecomApiError } from '../wecom/wecom-api-error.js';
import type { MediaLinkSigner } from './media-link-signer.js';

/** Opens a WeCom media file as a stream. */
export interface MediaOpener {
  open(mediaId: string): Promise<OpenedMedia>;
}

/** Settings of the media link route. */
export interface MediaLinkRouteOptions {
  signer: MediaLinkSigner;
  source: MediaOpener;
  /** Downloads streamed at once; more are answered 503 MEDIA_LINK_BUSY rather than queued. */
  maxConcurrent: number;
  logger: Logger;
  /** A download from which no byte came for this long is abandoned, freeing its slot; default 30 s. */
  idleTimeoutMs?: number;
}

/** The chunks, failing when the next one takes longer than idleMs (WeCom stalled mid-file). */
async function* withIdleBound(chunks: AsyncIterable<Uint8Array>, idleMs: number, onIdle: () => Promise<void>): AsyncGenerator<Uint8Array> {
  const it = chunks[Symbol.asyncIterator]();
  for (;;) {
    let timer: NodeJS.Timeout | undefined;
    const idle = new Promise<'idle'>((resolve) => {
      timer = setTimeout(resolve, idleMs, 'idle');
    });
    const next = await Promise.race([it.next(), idle]).finally(() => clearTimeout(timer));
    if (next === 'idle') {
      await onIdle();
      throw new Error(`no bytes from WeCom for ${idleMs} ms`);
    }
    if (next.done) return;
    yield next.value;
  }
}

/** HTTP status of each refusal the route answers (WECOM_UNAVAILABLE has none in the catalog: it is not HTTP-only). */
const STATUS: Partial<Record<ErrorCode, number>> = { WECOM_UNAVAILABLE: 503 };

function refuse(res: ServerResponse, code: ErrorCode, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}): void {
  const entry: { message: string; status?: number } = ERROR_CATALOG[code];
  const body = JSON.stringify({ code, message: entry.message, ...extra });
  res.writeHead(STATUS[code] ?? entry.status ?? 500, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(body);
}

/**
 * Serves `GET /media/v1?id&exp&sig`: checks the signature (constant time) and the expiry, then streams the file from
 * WeCom's media/get to the fetcher, Content-Type, Content-Length and the file name passed on. Bytes flow through as
 * the fetcher reads them (backpressure reaches WeCom); a fetcher that goes away stops the download.
 */
export function createMediaLinkHandler(o: MediaLinkRouteOptions): (req: IncomingMessage, res: ServerResponse, query: URLSearchParams) => Promise<void> {
  let inFlight = 0;
  return async (req, res, query) => {
    const checked = o.signer.verify(query);
    if ('refused' in checked) return refuse(res, checked.refused);
    if (inFlight >= o.maxConcurrent) return refuse(res, 'MEDIA_LINK_BUSY', {}, { 'retry-after': '1' });
    inFlight++;
    try {
      let media: OpenedMedia;
      try {
        media = await o.source.open(checked.mediaId);
      } catch (err) {
        if (err instanceof WecomApiError && err.code === 'WECOM_API_ERROR') {
          o.logger.info({ errcode: err.errcode, mediaId: checked.mediaId }, 'media link: WeCom refused the media');
          return refuse(res, 'MEDIA_REFUSED_BY_WECOM', err.errcode ? { wecom_errcode: err.errcode } : {});
        }
        o.logger.warn({ err, mediaId: checked.mediaId }, 'media link: WeCom could not be reached');
        return refuse(res, 'WECOM_UNAVAILABLE', {}, { 'retry-after': '5' });
      }
      const headers: Record<string, string | number> = { 'content-type': media.mime, 'cache-control': 'private, no-store' };
      if (media.size !== null) headers['content-length'] = media.size;
      if (media.disposition) headers['content-disposition'] = media.disposition;
      res.writeHead(200, headers);
      if (req.method === 'HEAD') {
        await media.cancel();
        res.end();
        return;
      }
      try {
        const bounded = withIdleBound(media.chunks, o.idleTimeoutMs ?? 30_000, () => media.cancel());
        await pipeline(Readable.from(bounded, { objectMode: false }), res);
      } catch (err) {
        // The fetcher went away (pipeline rejects at once), or WeCom failed mid-file: stop the download either way.
        // Headers are gone, so a cut connection is all the fetcher can be told (Content-Length shows it was cut).
        await media.cancel();
        if (!res.destroyed) res.destroy();
        if (!req.destroyed) o.logger.warn({ err, mediaId: checked.mediaId }, 'media link: stream ended early');
      }
    } finally {
      inFlight--;
    }
  };
}
