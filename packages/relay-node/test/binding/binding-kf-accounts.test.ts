import { describe, expect, it } from 'vitest';
import { bindingFixture } from './binding-fixture.js';

const T0 = 1_700_000_000;
const KF_A = 'wk-first';
const KF_B = 'wk-second';

describe('binding with several kf accounts', () => {
  it('makes the link of the account create_binding names, of the first when it names none, and refuses an unknown one', async () => {
    const f = bindingFixture({ openKfids: [KF_A, KF_B] });
    expect((await f.binding.createBinding('gw-1')).customerServiceUrl).toContain(`/kf/${KF_A}?`);
    expect((await f.binding.createBinding('gw-1', { openKfid: KF_B })).customerServiceUrl).toContain(`/kf/${KF_B}?`);
    await expect(f.binding.createBinding('gw-1', { openKfid: 'wk-elsewhere' })).rejects.toMatchObject({ code: 'KF_ACCOUNT_UNKNOWN' });
  });

  it('binds through the account the scan or typed token came in on, and confirms from it', async () => {
    const f = bindingFixture({ openKfids: [KF_A, KF_B] });
    const scanned = await f.binding.createBinding('gw-1');
    expect(await f.binding.bindByToken('wm-scan', scanned.token, { eventId: 'scan-1', at: T0, openKfid: KF_B })).toBe(true);
    const typed = await f.binding.createBinding('gw-1', { long: true });
    expect(await f.binding.bindByTypedToken('wm-typed', typed.token, { eventId: 'msg-2', at: T0, openKfid: KF_A })).toBe(true);
    expect(await f.bindings.accountOf('wm-scan')).toBe(KF_B);
    expect(await f.bindings.accountOf('wm-typed')).toBe(KF_A);
    expect(f.kf.texts.map((t) => [t.toUser, t.openKfid])).toEqual([
      ['wm-scan', KF_B],
      ['wm-typed', KF_A],
    ]);
  });

  it('ends each unbound customer’s session on the account they were bound through', async () => {
    const f = bindingFixture({ openKfids: [KF_A, KF_B] });
    for (const [user, kf, n] of [['wm-a', KF_A, 1], ['wm-b', KF_B, 2], ['wm-old', undefined, 3]] as const) {
      const { token } = await f.binding.createBinding('gw-1', { long: true });
      await f.binding.bindByToken(user, token, { eventId: `scan-${n}`, at: T0 + n, ...(kf ? { openKfid: kf } : {}) });
    }
    await f.binding.unbindAll('gw-1');
    expect([...f.kf.ended].sort((x, y) => x.externalUserId.localeCompare(y.externalUserId))).toEqual([
      { openKfid: KF_A, externalUserId: 'wm-a' },
      { openKfid: KF_B, externalUserId: 'wm-b' },
      // No account in the event: the first one.
      { openKfid: KF_A, externalUserId: 'wm-old' },
    ]);
  });
});
