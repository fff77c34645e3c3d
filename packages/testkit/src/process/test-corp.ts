import { randomBytes, randomInt } from 'node:crypto';

/** One enterprise's worth of fake WeCom credentials plus the relay's gateway secret, shared by the fake and the relay. */
export interface TestCorp {
  corpId: string;
  /** The kf app's secret (gettoken corpsecret). */
  secret: string;
  /** The callback Token from the admin console. */
  token: string;
  /** 43 characters of [a-zA-Z0-9]. */
  encodingAesKey: string;
  openKfid: string;
  /** RELAY_AUTH_SECRET: gateway auth tokens are derived from it. */
  relaySecret: string;
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function alnum(length: number): string {
  let out = '';
  for (let i = 0; i < length; i += 1) out += ALNUM[randomInt(ALNUM.length)];
  return out;
}

/** Fresh, well-formed credentials (random per call so parallel suites never share state); override any field. */
export function testCorp(overrides: Partial<TestCorp> = {}): TestCorp {
  return {
    corpId: `ww${randomBytes(8).toString('hex')}`,
    secret: alnum(43),
    token: alnum(16),
    encodingAesKey: alnum(43),
    openKfid: `wk${alnum(14)}`,
    relaySecret: `relay-${randomBytes(16).toString('hex')}`,
    ...overrides,
  };
}
