import { ControlError } from './control-error.js';
import { randomId } from './ids.js';

/** One link kf/add_contact_way answered. */
interface IssuedLink {
  /** The URL exactly as issued; a scan must present it unchanged apart from one appended scene_param. */
  url: string;
  scene: string;
  openKfid: string;
}

/** What opening an issued link tells WeCom: the scene it was created with and the scene_param WeCom passes on. */
export interface OpenedLink {
  scene: string;
  /** The kf account the link was issued for: the scan opens a session with it. */
  openKfid: string;
  /** Decoded scene_param, or null when absent or when the link was created without a scene. */
  sceneParam: string | null;
}

/** Enough for any test run; the oldest links are forgotten first so a long-running fake stays bounded. */
const MAX_ISSUED_LINKS = 10_000;

/**
 * The contact-way links this fake issued, and WeCom's rule for opening one (reference §3.3): only a link
 * add_contact_way returned works, its parameters must not be altered or copied into another link, and the one
 * thing a developer may add is `scene_param`, which comes back in enter_session only when the link has a scene.
 */
export class ContactWays {
  readonly #issued = new Map<string, IssuedLink>();

  /** kfcIdOf: the kfc… id in a kf account's URLs. */
  constructor(private readonly kfcIdOf: (openKfid: string) => string) {}

  /** Issues a link of kf account `openKfid` for `scene` ('' allowed) and remembers it. */
  issue(scene: string, openKfid: string): string {
    const encScene = `ENC${randomId(24)}`;
    const url = `https://work.weixin.qq.com/kf/${this.kfcIdOf(openKfid)}?enc_scene=${encScene}`;
    this.#issued.set(encScene, { url, scene, openKfid });
    if (this.#issued.size > MAX_ISSUED_LINKS) this.#issued.delete(this.#issued.keys().next().value as string);
    return url;
  }

  /**
   * Opens a link as a customer's scan would. Throws CONTROL_SCAN_REFUSED, saying why, where WeCom would send no
   * enter_session event; CONTROL_BAD_REQUEST when `raw` is not a URL at all.
   */
  open(raw: string): OpenedLink {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new ControlError('CONTROL_BAD_REQUEST', 'url is not a URL');
    }
    const encScene = url.searchParams.get('enc_scene');
    const issued = encScene === null ? undefined : this.#issued.get(encScene);
    if (!issued) {
      throw new ControlError(
        'CONTROL_SCAN_REFUSED',
        'url is not a contact-way URL issued by this fake (kf/add_contact_way): WeCom sends no enter_session for it',
      );
    }
    const parts = url.search.replace(/^\?/, '').split('&');
    const sceneParams = parts.filter((p) => p.startsWith('scene_param='));
    const rest = parts.filter((p) => !p.startsWith('scene_param='));
    const withoutSceneParam = `${url.origin}${url.pathname}${rest.length > 0 ? `?${rest.join('&')}` : ''}${url.hash}`;
    if (withoutSceneParam !== issued.url || sceneParams.length > 1) {
      throw new ControlError(
        'CONTROL_SCAN_REFUSED',
        `the issued link's parameters were altered (only one scene_param may be appended to ${issued.url}): ` +
          'WeCom fails the enter_session validation and sends no event',
      );
    }
    let sceneParam: string | null = null;
    if (sceneParams[0] !== undefined) {
      try {
        sceneParam = decodeURIComponent(sceneParams[0].slice('scene_param='.length).replace(/\+/g, ' '));
      } catch {
        throw new ControlError('CONTROL_SCAN_REFUSED', 'scene_param is not urlencoded');
      }
    }
    // WeCom passes scene_param on only for links created with a non-empty scene.
    return { scene: issued.scene, openKfid: issued.openKfid, sceneParam: issued.scene === '' ? null : sceneParam };
  }
}
