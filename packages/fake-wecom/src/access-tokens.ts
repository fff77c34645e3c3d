import { randomId } from './ids.js';
import type { FakeClock } from './clock.js';
import { ERRCODE } from './errcodes.js';

interface IssuedToken {
  expiresAt: number;
  revoked: boolean;
}

/** Access tokens the fake issued: WeCom hands out the same token while it is valid and a new one after. */
export class AccessTokenRegistry {
  readonly #tokens = new Map<string, IssuedToken>();
  #current: string | null = null;
  #issuedCount = 0;

  constructor(
    private readonly clock: FakeClock,
    private readonly ttlSeconds: number,
  ) {}

  /** gettoken: the current token if still valid (with its remaining life), else a fresh one. */
  issue(): { accessToken: string; expiresIn: number } {
    const now = this.clock.now();
    const current = this.#current === null ? undefined : this.#tokens.get(this.#current);
    if (this.#current !== null && current && !current.revoked && current.expiresAt > now) {
      return { accessToken: this.#current, expiresIn: Math.max(1, Math.floor((current.expiresAt - now) / 1000)) };
    }
    const token = `fk_${randomId(96)}`;
    this.#tokens.set(token, { expiresAt: now + this.ttlSeconds * 1000, revoked: false });
    this.#current = token;
    this.#issuedCount++;
    return { accessToken: token, expiresIn: this.ttlSeconds };
  }

  /** 0 when the token may call the API, else the errcode WeCom answers. */
  check(token: string | null): number {
    if (token === null || token === '') return ERRCODE.MISSING_ACCESS_TOKEN;
    const entry = this.#tokens.get(token);
    if (!entry) return ERRCODE.INVALID_ACCESS_TOKEN;
    if (entry.revoked || entry.expiresAt <= this.clock.now()) return ERRCODE.ACCESS_TOKEN_EXPIRED;
    return ERRCODE.OK;
  }

  /** Every token issued so far answers 42001 from now on, as when WeCom invalidates tokens early. */
  expireAll(): void {
    for (const entry of this.#tokens.values()) entry.revoked = true;
  }

  /** How many distinct tokens were minted. */
  get issuedCount(): number {
    return this.#issuedCount;
  }

  /** Zeroes the counter; issued tokens stay valid because relays that hold one outlive a test's reset. */
  resetCount(): void {
    this.#issuedCount = 0;
  }
}
