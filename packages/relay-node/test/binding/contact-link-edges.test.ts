import { describe, expect, it } from 'vitest';
import { CONTACT_LINK_TTL_MS, ContactLinkCache } from '../../src/binding/contact-link.js';

/** A kf/add_contact_way stand-in whose answers the test settles one by one. */
function heldSource() {
  const calls: Array<{ resolve: (link: string) => void; reject: (err: Error) => void }> = [];
  return {
    calls,
    addContactWay(): Promise<string> {
      return new Promise((resolve, reject) => calls.push({ resolve, reject }));
    },
  };
}

describe('ContactLinkCache edges', () => {
  it('reuses a link for 24 hours by default', async () => {
    expect(CONTACT_LINK_TTL_MS).toBe(86_400_000);
    let now = 0;
    let asked = 0;
    const links = new ContactLinkCache({
      source: { addContactWay: async () => `https://work.weixin.qq.com/kf/kfc?enc_scene=E${++asked}` },
      scene: 'relay_bind',
      now: () => now,
    });
    await links.get('wkA');
    now = 86_400_000 - 1;
    await links.get('wkA');
    expect(asked).toBe(1);
    now = 86_400_000;
    await links.get('wkA');
    expect(asked).toBe(2);
  });

  it('accepts only a scene of 1-32 characters from [0-9a-zA-Z_-], wholly', () => {
    const ok = { addContactWay: async () => 'https://example.invalid/' };
    for (const scene of ['a', 'relay_bind', 'A-Z_0-9', 'x'.repeat(32)]) expect(() => new ContactLinkCache({ source: ok, scene })).not.toThrow();
    for (const scene of ['bad!scene', 'scene!bad', 'two words', 'x'.repeat(33), '场景']) {
      expect(() => new ContactLinkCache({ source: ok, scene }), scene).toThrow('scene must be 1-32 of [0-9a-zA-Z_-]');
    }
  });

  it('an expired request that fails late does not evict the newer link that replaced it', async () => {
    const wecom = heldSource();
    let now = 0;
    const links = new ContactLinkCache({ source: wecom, scene: 'relay_bind', ttlMs: 1_000, now: () => now });
    const old = links.get('wkA');
    now = 1_000;
    const newer = links.get('wkA');
    expect(wecom.calls).toHaveLength(2);
    wecom.calls[1]!.resolve('https://work.weixin.qq.com/kf/kfc?enc_scene=NEW');
    expect(await newer).toBe('https://work.weixin.qq.com/kf/kfc?enc_scene=NEW');
    wecom.calls[0]!.reject(new Error('WeCom refused: 95000'));
    await expect(old).rejects.toThrow(/refused/);
    expect(await links.get('wkA')).toBe('https://work.weixin.qq.com/kf/kfc?enc_scene=NEW');
    expect(wecom.calls).toHaveLength(2);
  });
});
