import type { FakeClock } from './clock.js';
import { randomId } from './ids.js';

/** WeCom media kinds (media/upload `type`). */
export type MediaType = 'image' | 'voice' | 'video' | 'file';

/** One stored media file. */
export interface StoredMedia {
  mediaId: string;
  type: MediaType;
  data: Buffer;
  mime: string;
  filename: string;
  createdAt: number;
}

/** What a WeChat voice file in SILK starts with. */
export const SILK_HEADER = Buffer.from('\x02#!SILK_V3', 'latin1');

/** media_id stays valid for 3 days (reference §3.4). */
const MEDIA_LIFETIME_MS = 3 * 24 * 3600 * 1000;

const EXTENSIONS: Record<string, string> = {
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'image/jpg': 'jpg',
  'image/bmp': 'bmp',
  'voice/amr': 'amr',
  'audio/amr': 'amr',
  'voice/silk': 'silk',
  'video/mp4': 'mp4',
};

/** The extension WeCom would give a download of this mime type. */
export function extensionFor(mime: string): string {
  return EXTENSIONS[mime.toLowerCase()] ?? 'bin';
}

/** One media/get answer, as tests read it (how the relay fetched a file: whole or in ranges). */
export interface MediaDownloadRecord {
  media_id: string;
  /** The Range header asked, or null for a whole-file request. */
  range: string | null;
  status: number;
  /** Bytes of file served (0 for an error answer). */
  bytes: number;
}

/** Media uploaded by the relay or carried by customer messages, by media_id. */
export class MediaStore {
  readonly #media = new Map<string, StoredMedia>();
  readonly #downloads: MediaDownloadRecord[] = [];
  readonly #silkCopies = new Map<string, string>();

  constructor(private readonly clock: FakeClock) {}

  /** Stores bytes and mints a media_id. */
  put(type: MediaType, data: Buffer, mime: string, filename?: string): StoredMedia {
    const mediaId = `3${randomId(63)}`;
    const entry: StoredMedia = {
      mediaId,
      type,
      data,
      mime,
      filename: filename ?? `${mediaId}.${extensionFor(mime)}`,
      createdAt: this.clock.now(),
    };
    this.#media.set(mediaId, entry);
    return entry;
  }

  /** The media while its id is valid, else null. */
  get(mediaId: string): StoredMedia | null {
    const entry = this.#media.get(mediaId);
    if (!entry || this.clock.now() - entry.createdAt > MEDIA_LIFETIME_MS) return null;
    return entry;
  }

  /**
   * The SILK copy of a customer's voice, as sync_msg with voice_format 1 names it (reference §2.2, §3.5): one stable
   * media_id per voice. The bytes are a stand-in (SILK's header, then the AMR bytes): the fake does not transcode.
   */
  silkCopyOf(mediaId: string): string | null {
    const known = this.#silkCopies.get(mediaId);
    if (known) return known;
    const voice = this.get(mediaId);
    if (!voice || voice.type !== 'voice') return null;
    const copy = this.put('voice', Buffer.concat([SILK_HEADER, voice.data]), 'voice/silk');
    this.#silkCopies.set(mediaId, copy.mediaId);
    return copy.mediaId;
  }

  /** Notes one media/get answer. */
  noteDownload(record: MediaDownloadRecord): void {
    this.#downloads.push(record);
  }

  /** Every media/get answer so far, oldest first. */
  downloads(): MediaDownloadRecord[] {
    return [...this.#downloads];
  }

  /** Forgets every file. */
  reset(): void {
    this.#media.clear();
    this.#downloads.length = 0;
    this.#silkCopies.clear();
  }
}
