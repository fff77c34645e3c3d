import { mediaUploadResponseSchema } from '@wecom-relay/shared';
import { WecomMediaTooLargeError } from './wecom-api-error.js';
import { jsonReader, readWecomJson, type AttemptOutcome, type WecomHttp } from './wecom-http.js';

/** media/upload kinds. */
export type WecomMediaType = 'image' | 'voice' | 'video' | 'file';

/** A downloaded media file. */
export interface DownloadedMedia {
  data: Buffer;
  /** From Content-Type, without parameters. */
  mime: string;
}

/** Error bodies are tiny; a download this small that starts with "{" is checked for an errcode. */
const SNIFF_JSON_MAX_BYTES = 4096;

/** WeCom temporary media: upload for sending, download what customers sent. */
export class MediaApi {
  constructor(private readonly http: WecomHttp) {}

  /** media/upload (multipart field `media`); the media_id, valid 3 days. */
  async upload(type: WecomMediaType, data: Buffer, filename: string, mime: string): Promise<string> {
    const api = 'media/upload';
    const answer = await this.http.call({
      api,
      method: 'POST',
      query: { type },
      body: () => {
        const form = new FormData();
        form.append('media', new Blob([data], { type: mime }), filename);
        // fetch sets the multipart boundary itself.
        return { body: form };
      },
      read: jsonReader(api, mediaUploadResponseSchema),
    });
    return answer.media_id;
  }

  /**
   * media/get, streamed with a byte cap: past maxBytes the download is aborted and WecomMediaTooLargeError thrown,
   * so a huge file never sits in memory. A JSON body (by Content-Type, or sniffed) is WeCom's error answer.
   */
  download(mediaId: string, options: { maxBytes: number }): Promise<DownloadedMedia> {
    const api = 'media/get';
    return this.http.call({
      api,
      method: 'GET',
      query: { media_id: mediaId },
      read: (res) => readDownload(res, api, mediaId, options.maxBytes),
    });
  }
}

async function readDownload(res: Response, api: string, mediaId: string, maxBytes: number): Promise<AttemptOutcome<DownloadedMedia>> {
  const contentType = res.headers.get('content-type') ?? '';
  const mime = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  if (!res.ok || mime === 'application/json' || mime === 'text/plain') return asError(await readWecomJson(res), api);

  const tooLarge = () => new WecomMediaTooLargeError({ api, maxBytes, mediaId });
  const declared = Number(res.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > maxBytes) {
    await res.body?.cancel().catch(() => undefined);
    return { kind: 'fatal', error: tooLarge() };
  }
  const chunks: Buffer[] = [];
  let total = 0;
  if (res.body) {
    const reader = res.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > maxBytes) {
        await reader.cancel().catch(() => undefined);
        return { kind: 'fatal', error: tooLarge() };
      }
      chunks.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
    }
  }
  const data = Buffer.concat(chunks, total);
  if (data.length <= SNIFF_JSON_MAX_BYTES && data[0] === 0x7b) {
    const sniffed = await readWecomJson(new Response(data, { status: 200 }));
    if (sniffed.kind === 'errcode') return sniffed;
  }
  return { kind: 'ok', value: { data, mime: mime || 'application/octet-stream' } };
}

/** A JSON answer to media/get is never a file: an errcode, a transport failure, or an unexpected success body. */
function asError(outcome: AttemptOutcome<unknown>, api: string): AttemptOutcome<DownloadedMedia> {
  if (outcome.kind !== 'ok') return outcome;
  return { kind: 'transport', message: `${api} answered JSON without an errcode`, retryable: false };
}
