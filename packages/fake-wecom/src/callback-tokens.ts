import type { FakeClock } from './clock.js';
import { randomId } from './ids.js';

/** The callback Token is valid for 10 minutes (reference §2.1). */
const CALLBACK_TOKEN_LIFETIME_MS = 10 * 60 * 1000;

/** Tokens carried by kf_msg_or_event callbacks, which sync_msg accepts for 10 minutes. */
export class CallbackTokens {
  readonly #tokens = new Map<string, { openKfid: string; issuedAt: number }>();

  constructor(private readonly clock: FakeClock) {}

  /** Mints a token for one callback. */
  issue(openKfid: string): string {
    const token = `ENC${randomId(44)}`;
    this.#tokens.set(token, { openKfid, issuedAt: this.clock.now() });
    return token;
  }

  /** Whether sync_msg may use this token for this kf account now. */
  isValid(token: string, openKfid: string): boolean {
    const entry = this.#tokens.get(token);
    return !!entry && entry.openKfid === openKfid && this.clock.now() - entry.issuedAt <= CALLBACK_TOKEN_LIFETIME_MS;
  }

  /** Forgets every token. */
  reset(): void {
    this.#tokens.clear();
  }
}
