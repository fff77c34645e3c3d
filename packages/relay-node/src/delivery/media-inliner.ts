import type { Logger } from 'pino';
import type { MediaError } from '@wecom-relay/shared';
import { Semaphore } from '../util/semaphore.js';

/** Downloads one WeCom media file. */
export interface MediaSource {
  download(mediaId: string, options: { maxBytes: number }): Promise<{ data: Buffer; mime: string }>;
}

/** Thrown when a download failed for a reason that may pass (WeCom busy, network): retry later, deliver nothing yet. */
export class TransientMediaError extends Error {
  readonly code = 'WECOM_MEDIA_FAILED';
}

/**
 * Fetches media for inbound frames with a cap on size and on concurrent downloads, so a burst of large
 * images cannot exhaust the heap. Media that cannot ever be fetched (expired, too large) yields null.
 */
export class MediaInliner {
  constructor(private readonly o: { source: MediaSource; maxBytes: number; transfers: Semaphore; logger: Logger }) {}

  /** The media as base64 and its Content-Type, or why it can never be inlined. */
  async fetch(mediaId: string): Promise<{ base64: string; mime: string } | { error: MediaError }> {
    try {
      const { data, mime } = await this.o.transfers.run(() => this.o.source.download(mediaId, { maxBytes: this.o.maxBytes }));
      return { base64: data.toString('base64'), mime };
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code === 'WECOM_UNAVAILABLE') throw new TransientMediaError('media download failed; will retry', { cause: err });
      this.o.logger.warn({ err, mediaId }, 'media cannot be downloaded; delivering the message without it');
      return { error: code === 'WECOM_MEDIA_TOO_LARGE' ? 'too_large' : 'unavailable' };
    }
  }
}
