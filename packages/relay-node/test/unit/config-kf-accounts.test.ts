import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';

const base = {
  WECOM_CORPID: 'ww0001',
  WECOM_APP_SECRET: 'app-secret',
  WECOM_TOKEN: 'cbtoken',
  WECOM_ENCODING_AES_KEY: 'jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C',
  RELAY_AUTH_SECRET: 'a-relay-secret-of-length',
};

const load = (kfids: string) => loadConfig({ ...base, WECOM_OPEN_KFID: kfids }, { envFile: null });
const refusal = (kfids: string): string => {
  try {
    load(kfids);
  } catch (err) {
    return `${(err as { code?: string }).code}: ${(err as Error).message}`;
  }
  throw new Error(`${kfids} was accepted`);
};

describe('WECOM_OPEN_KFID with several kf accounts', () => {
  it('reads one id as the deployed relay did: one account, which is also the default', () => {
    const config = load('wkAbCdEfGhIjKlMnOpQrStUvWxYz012345');
    expect(config.wecom.openKfids).toEqual(['wkAbCdEfGhIjKlMnOpQrStUvWxYz012345']);
    expect(config.wecom.openKfid).toBe('wkAbCdEfGhIjKlMnOpQrStUvWxYz012345');
  });

  it('reads a comma-separated list in order, spaces around entries allowed; the first is the default account', () => {
    const config = load('wkBrandA, wkBrandB ,wk-region_3');
    expect(config.wecom.openKfids).toEqual(['wkBrandA', 'wkBrandB', 'wk-region_3']);
    expect(config.wecom.openKfid).toBe('wkBrandA');
    expect(Object.isFrozen(config.wecom.openKfids)).toBe(true);
  });

  it('refuses a list with an empty entry, naming the variable', () => {
    for (const list of ['wkA,,wkB', 'wkA,', ',wkA', ' , ']) {
      expect(refusal(list)).toMatch(/^CONFIG_INVALID: .*WECOM_OPEN_KFID.*empty entry/s);
    }
  });

  it('refuses the same account listed twice', () => {
    expect(refusal('wkA,wkB,wkA')).toMatch(/WECOM_OPEN_KFID.*same kf account twice: wkA/s);
  });

  it('refuses an entry that is not an open_kfid (spaces inside, braces, over 64 characters)', () => {
    for (const bad of ['wk A', 'wk{x}', `wk${'a'.repeat(63)}`, 'wk:1']) {
      expect(refusal(`wkGood,${bad}`)).toMatch(/WECOM_OPEN_KFID.*is not an open_kfid/s);
    }
  });

  it('defaults the lease spread to 250 ms and takes 0 to turn it off', () => {
    expect(load('wkA').sync.leaseSpreadMs).toBe(250);
    expect(loadConfig({ ...base, WECOM_OPEN_KFID: 'wkA', SYNC_LEASE_SPREAD_MS: '0' }, { envFile: null }).sync.leaseSpreadMs).toBe(0);
  });

  it('waits 5 ms for callbacks to coalesce before a pull by default, takes 0 to pull at once, and refuses over a second', () => {
    expect(load('wkA').sync.coalesceMs).toBe(5);
    expect(loadConfig({ ...base, WECOM_OPEN_KFID: 'wkA', SYNC_COALESCE_MS: '0' }, { envFile: null }).sync.coalesceMs).toBe(0);
    expect(() => loadConfig({ ...base, WECOM_OPEN_KFID: 'wkA', SYNC_COALESCE_MS: '1001' }, { envFile: null })).toThrow(/SYNC_COALESCE_MS/);
  });
});
