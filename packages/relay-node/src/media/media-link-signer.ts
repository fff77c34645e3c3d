import { createHmac } from 'node:crypto';
import { timingSafeStringEqual } from '@wecom-relay/shared';

/** The path the webhook server serves media links under. */
export const MEDIA_LINK_PATH = '/media/v1';

/** Why a media link is refused; each is a stable error code of the catalog. */
export type MediaLinkRefusal = 'MEDIA_LINK_INVALID' | 'MEDIA_LINK_EXPIRED';

/** A signed link to one WeCom media file. */
export interface MediaLink {
  url: string;
  /** Unix seconds after which the link is refused. */
  expiresAt: number;
}

/** Settings of {@link MediaLinkSigner}. */
export interface MediaLinkSignerOptions {
  /** Where gateways reach this node's HTTP server, e.g. `https://relay.example.com` (no trailing slash needed). */
  baseUrl: string;
  /** The HMAC key; every node of a cluster must share it so any node serves any node's links. */
  secret: string;
  ttlMs: number;
  now: () => number;
}

/** The key media links are signed with when MEDIA_URL_SECRET is unset: derived, so it never equals the auth secret. */
export function deriveMediaLinkSecret(relayAuthSecret: string): string {
  return createHmac('sha256', relayAuthSecret).update('wecom-relay media link v1', 'utf8').digest('base64url');
}

/**
 * Signs and checks media links: `<base>/media/v1?id=<media_id>&exp=<unix s>&sig=<HMAC-SHA256(secret, id, exp)>`.
 * The media id itself is no secret (it is useless without WeCom's access token); the signature is what stops a
 * link being forged or stretched, and it sits in the query, which the node never logs.
 */
export class MediaLinkSigner {
  readonly #base: string;

  constructor(private readonly o: MediaLinkSignerOptions) {
    this.#base = o.baseUrl.replace(/\/+$/, '');
  }

  /** A link to the media, valid for the configured time from now. */
  sign(mediaId: string): MediaLink {
    const expiresAt = Math.floor((this.o.now() + this.o.ttlMs) / 1000);
    const query = new URLSearchParams({ id: mediaId, exp: String(expiresAt), sig: this.#mac(mediaId, expiresAt) });
    return { url: `${this.#base}${MEDIA_LINK_PATH}?${query.toString()}`, expiresAt };
  }

  /** The media id a link's query names, or why it is refused (a bad signature is checked before expiry). */
  verify(query: URLSearchParams): { mediaId: string } | { refused: MediaLinkRefusal } {
    const mediaId = query.get('id');
    const exp = query.get('exp');
    const sig = query.get('sig');
    if (!mediaId || !exp || !sig || !/^\d{1,12}$/.test(exp)) return { refused: 'MEDIA_LINK_INVALID' };
    const expiresAt = Number(exp);
    if (!timingSafeStringEqual(sig, this.#mac(mediaId, expiresAt))) return { refused: 'MEDIA_LINK_INVALID' };
    if (this.o.now() >= expiresAt * 1000) return { refused: 'MEDIA_LINK_EXPIRED' };
    return { mediaId };
  }

  #mac(mediaId: string, expiresAt: number): string {
    return createHmac('sha256', this.o.secret).update(`${mediaId}\n${expiresAt}`, 'utf8').digest('base64url');
  }
}
