/** How long a link from kf/add_contact_way is reused before asking WeCom again. */
export const CONTACT_LINK_TTL_MS = 24 * 3600 * 1000;

/** The one WeCom call links come from. */
export interface ContactWaySource {
  addContactWay(req: { openKfid: string; scene: string }): Promise<string>;
}

/** Options for {@link ContactLinkCache}. */
export interface ContactLinkCacheOptions {
  source: ContactWaySource;
  /** Non-empty, ≤ 32 of [0-9a-zA-Z_-]: WeCom returns scene_param in enter_session only for a link with a scene. */
  scene: string;
  /** How long a link is reused; default {@link CONTACT_LINK_TTL_MS}. */
  ttlMs?: number;
  /** Clock in epoch ms. */
  now?: () => number;
}

interface CachedLink {
  link: Promise<string>;
  expiresAt: number;
}

/**
 * Binding links per kf account (open_kfid). WeCom passes scene_param on only for a link kf/add_contact_way
 * returned for a non-empty scene, and only while the link's own parameters are untouched, so links are never built
 * by hand: each is asked for once, shared by concurrent callers, reused for a bounded time, and a failed request is
 * forgotten at once so the next caller asks again.
 */
export class ContactLinkCache {
  private readonly links = new Map<string, CachedLink>();
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(private readonly o: ContactLinkCacheOptions) {
    if (!/^[0-9a-zA-Z_-]{1,32}$/.test(o.scene)) throw new Error('scene must be 1-32 of [0-9a-zA-Z_-]');
    this.ttlMs = o.ttlMs ?? CONTACT_LINK_TTL_MS;
    this.now = o.now ?? Date.now;
  }

  /** The link for a kf account, exactly as WeCom returned it. */
  get(openKfid: string): Promise<string> {
    const cached = this.links.get(openKfid);
    if (cached && cached.expiresAt > this.now()) return cached.link;
    const entry: CachedLink = {
      link: this.o.source.addContactWay({ openKfid, scene: this.o.scene }),
      expiresAt: this.now() + this.ttlMs,
    };
    this.links.set(openKfid, entry);
    entry.link.catch(() => {
      // A refusal is not cached; a newer request may already have replaced this one.
      if (this.links.get(openKfid) === entry) this.links.delete(openKfid);
    });
    return entry.link;
  }
}

