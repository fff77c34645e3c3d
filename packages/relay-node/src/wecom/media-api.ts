import { mediaUploadResponseSchema } from '@wecom-relay/shared';
import { RelayError } from '../errors/relay-error.js';
import { ERRCODE_MEDIA_NEEDS_RANGE, downloadInRanges, readWholeDownload, type DownloadedMedia } from './media-download.js';
import { openMediaStream, type OpenedMedia } from './media-stream.js';
import { multipartFile } from './multipart-body.js';
import { WecomApiError } from './wecom-api-error.js';
import { jsonReader, type WecomHttp } from './wecom-http.js';

/** A downloaded media file (defined beside the readers that produce it). */
export type { DownloadedMedia } from './media-download.js';

/** media/upload kinds. */
export type WecomMediaType = 'image' | 'voice' | 'video' | 'file';

/** Settings of the media API. */
export interface MediaApiOptions {
  /** Bytes per Range request when WeCom answers 830002 (file too large for one download); default 4 MiB. */
  rangeChunkBytes?: number;
}

/** Small enough for the per-attempt timeout on a slow link, large enough to keep the request count low. */
const DEFAULT_RANGE_CHUNK_BYTES = 4 * 1024 * 1024;

/** WeCom temporary media: upload for sending, download what customers sent. */
export class MediaApi {
  readonly #rangeChunkBytes: number;

  constructor(
    private readonly http: WecomHttp,
    options: MediaApiOptions = {},
  ) {
    const chunk = options.rangeChunkBytes ?? DEFAULT_RANGE_CHUNK_BYTES;
    if (!Number.isSafeInteger(chunk) || chunk < 1) {
      throw new RelayError('CONFIG_INVALID', `rangeChunkBytes must be a positive integer, got ${chunk}`);
    }
    this.#rangeChunkBytes = chunk;
  }

  /** media/upload (multipart field `media`); the media_id, valid 3 days. */
  async upload(type: WecomMediaType, data: Buffer, filename: string, mime: string): Promise<string> {
    const api = 'media/upload';
    const answer = await this.http.call({
      api,
      method: 'POST',
      query: { type },
      body: () => multipartFile('media', { data, filename, mime }),
      read: jsonReader(api, mediaUploadResponseSchema),
    });
    return answer.media_id;
  }

  /**
   * media/get, streamed with a byte cap: past maxBytes the download is aborted and WecomMediaTooLargeError thrown,
   * so a huge file never sits in memory. A JSON body (by Content-Type, or sniffed) is WeCom's error answer. When
   * WeCom answers 830002 (too large for one download) the file is fetched again in Range chunks.
   */
  async download(mediaId: string, options: { maxBytes: number }): Promise<DownloadedMedia> {
    const api = 'media/get';
    try {
      return await this.http.call({
        api,
        method: 'GET',
        query: { media_id: mediaId },
        read: (res) => readWholeDownload(res, api, mediaId, options.maxBytes),
      });
    } catch (err) {
      if (!(err instanceof WecomApiError) || err.errcode !== ERRCODE_MEDIA_NEEDS_RANGE) throw err;
    }
    return downloadInRanges(this.http, { api, mediaId, maxBytes: options.maxBytes, chunkBytes: this.#rangeChunkBytes });
  }

  /** media/get as a stream (for media links): headers first, then the bytes chunk by chunk as they are read. */
  open(mediaId: string): Promise<OpenedMedia> {
    return openMediaStream(this.http, { api: 'media/get', mediaId, chunkBytes: this.#rangeChunkBytes });
  }
}
