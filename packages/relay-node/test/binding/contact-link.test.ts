import { describe, expect, it } from 'vitest';
import { ContactLinkCache } from '../../src/binding/contact-link.js';

/** A stand-in for kf/add_contact_way that records calls and can be told to refuse the next one. */
function source() {
  const calls: { openKfid: string; scene: string }[] = [];
  let refuseNext = false;
  return {
    calls,
    refuseOnce() {
      refuseNext = true;
    },
    async addContactWay(req: { openKfid: string; scene: string }): Promise<string> {
      calls.push(req);
      if (refuseNext) {
        refuseNext = false;
        throw new Error('WeCom refused: 95000');
      }
      return `https://work.weixin.qq.com/kf/kfc${req.openKfid}?enc_scene=ENC${calls.length}`;
    },
  };
}

describe('ContactLinkCache', () => {
  it('asks add_contact_way once per kf account, with the non-empty scene, and shares concurrent requests', async () => {
    const wecom = source();
    const links = new ContactLinkCache({ source: wecom, scene: 'relay_bind' });
    const [a, b] = await Promise.all([links.get('wkA'), links.get('wkA')]);
    expect(a).toBe(b);
    expect(await links.get('wkB')).not.toBe(a);
    expect(await links.get('wkA')).toBe(a);
    expect(wecom.calls).toEqual([
      { openKfid: 'wkA', scene: 'relay_bind' },
      { openKfid: 'wkB', scene: 'relay_bind' },
    ]);
  });

  it('does not keep a refusal: the next request asks again', async () => {
    const wecom = source();
    const links = new ContactLinkCache({ source: wecom, scene: 'relay_bind' });
    wecom.refuseOnce();
    await expect(links.get('wkA')).rejects.toThrow(/refused/);
    expect(await links.get('wkA')).toMatch(/enc_scene=ENC2$/);
    expect(wecom.calls).toHaveLength(2);
  });

  it('asks again once the link is older than its lifetime', async () => {
    const wecom = source();
    let now = 1_000;
    const links = new ContactLinkCache({ source: wecom, scene: 'relay_bind', ttlMs: 60_000, now: () => now });
    const first = await links.get('wkA');
    now += 59_999;
    expect(await links.get('wkA')).toBe(first);
    now += 1;
    expect(await links.get('wkA')).not.toBe(first);
    expect(wecom.calls).toHaveLength(2);
  });

  it('refuses an empty scene, for which WeCom would drop scene_param', () => {
    expect(() => new ContactLinkCache({ source: source(), scene: '' })).toThrow(/scene/);
  });
});
