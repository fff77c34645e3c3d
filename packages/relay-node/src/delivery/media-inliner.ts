import type { Logger } from 'pino';
import type { GatewayFeature, MediaError } from '@wecom-relay/shared';
import type { MediaLink } from '../media/media-link-signer.js';
import { Semaphore } from '../util/semaphore.js';

/** Downloads one WeCom media file. */
export interface MediaSource {
  download(mediaId: string, options: { maxBytes: number }): Promise<{ data: Buffer; mime: string }>;
}

/** Bytes held against the node's send budget until released. */
export interface MediaCharge {
  resize(bytes: number): void;
  release(): void;
}

/** The node-wide byte budget media in flight is counted in (the gateway layer's SendBudget). */
export interface MediaBudget {
  /** Waits until the bytes fit, then counts them for the gateway socket `owner`; rejects if that socket closes. */
  reserveMedia(owner: string, bytes: number): Promise<MediaCharge>;
}

/**
 * What one media file costs while it is delivered: the downloaded bytes, their base64 string, and the encoded
 * frame that carries it (until the socket has written it).
 */
export function mediaFootprint(rawBytes: number): number {
  return rawBytes + 2 * 4 * Math.ceil(rawBytes / 3);
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
  constructor(
    private readonly o: {
      source: MediaSource;
      maxBytes: number;
      transfers: Semaphore;
      logger: Logger;
      budget?: MediaBudget;
      /** Signs media links (media_by_reference); without it every gateway gets media inlined or media_error. */
      links?: { sign(mediaId: string): MediaLink };
    },
  ) {}

  /**
   * The media as base64 and its Content-Type, or why it can never be inlined. With `owner` (the gateway socket it
   * is for) and a budget, the file's footprint is counted from before the download (at the size limit, then at its
   * real size) until the caller releases `charge`, once the frame is written or abandoned.
   */
  async fetch(
    mediaId: string,
    owner?: string,
    features: readonly GatewayFeature[] = [],
  ): Promise<{ base64: string; mime: string; charge?: MediaCharge } | { error: MediaError } | { link: MediaLink }> {
    const links = this.o.links;
    // A link costs no download: the bytes flow only when (and if) the gateway fetches them.
    if (links && features.includes('media_by_reference_always')) return { link: links.sign(mediaId) };
    const byReference = links !== undefined && features.includes('media_by_reference');
    const charge = owner !== undefined && this.o.budget ? await this.o.budget.reserveMedia(owner, mediaFootprint(this.o.maxBytes)) : undefined;
    try {
      const { data, mime } = await this.o.transfers.run(() => this.o.source.download(mediaId, { maxBytes: this.o.maxBytes }));
      charge?.resize(mediaFootprint(data.length));
      return charge ? { base64: data.toString('base64'), mime, charge } : { base64: data.toString('base64'), mime };
    } catch (err) {
      charge?.release();
      const code = (err as { code?: unknown }).code;
      if (code === 'WECOM_UNAVAILABLE') throw new TransientMediaError('media download failed; will retry', { cause: err });
      if (code === 'WECOM_MEDIA_TOO_LARGE' && byReference) return { link: links.sign(mediaId) };
      this.o.logger.warn({ err, mediaId }, 'media cannot be downloaded; delivering the message without it');
      return { error: code === 'WECOM_MEDIA_TOO_LARGE' ? 'too_large' : 'unavailable' };
    }
  }
}
