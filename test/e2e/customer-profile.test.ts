import { describe, expect, it } from 'vitest';
import { bindByScan, isBindingResolvedFor } from './support/binding-steps.js';
import { newUserId, uid, useRelayStack } from './support/relay-stack.js';

const stack = useRelayStack();

describe('customer_profile: who the customer is, on inbound and binding_resolved', () => {
  it('a gateway that asks gets the WeCom profile; a deployed gateway gets the frames it always got', async () => {
    const s = stack();
    const rich = await s.gateway({ features: ['customer_profile'] });
    const old = await s.gateway();
    const richUser = newUserId();
    const oldUser = newUserId();
    for (const u of [richUser, oldUser]) {
      await s.fake.control.customerProfile({ external_userid: u, nickname: 'Li Lei', avatar: 'https://a/1.png', gender: 1, unionid: 'un-1' });
    }
    await bindByScan(s, rich, richUser);
    await bindByScan(s, old, oldUser);
    const profile = { nickname: 'Li Lei', avatar: 'https://a/1.png', gender: 1, unionid: 'un-1' };
    expect(rich.received.find(isBindingResolvedFor(richUser))?.customer).toEqual(profile);
    expect(old.received.find(isBindingResolvedFor(oldUser))).toEqual({ type: 'binding_resolved', external_user_id: oldUser, gateway_id: old.gatewayId });

    const a = await s.fake.control.customerMessage({ external_userid: richUser, msgtype: 'text', content: 'hi' });
    const b = await s.fake.control.customerMessage({ external_userid: oldUser, msgtype: 'text', content: 'hi' });
    expect((await rich.waitForInbound((m) => m.id === a.msgid)).raw.customer).toEqual(profile);
    expect((await old.waitForInbound((m) => m.id === b.msgid)).raw).not.toHaveProperty('customer');
  });

  it('looks customers up in batches and remembers them', async () => {
    const s = stack();
    const gatewayId = uid('gw');
    const first = await s.gateway({ gatewayId });
    const users = [newUserId(), newUserId(), newUserId()];
    for (const u of users) await bindByScan(s, first, u);
    const before = (await s.fake.control.profileBatches()).length;

    // Reconnecting with the feature: the hello replay needs three profiles, fetched in one call.
    const again = await s.gateway({ gatewayId, features: ['customer_profile'] });
    for (const u of users) await again.waitFor(isBindingResolvedFor(u));
    const batches = (await s.fake.control.profileBatches()).slice(before);
    expect(batches).toEqual([3]);
    for (const u of users) expect(again.received.find(isBindingResolvedFor(u))?.customer).toMatchObject({ nickname: `customer-${u.slice(-6)}` });

    // Messages from those customers are answered from the cache.
    const m = await s.fake.control.customerMessage({ external_userid: users[0]!, msgtype: 'text', content: 'x' });
    expect((await again.waitForInbound((f) => f.id === m.msgid)).raw.customer).toMatchObject({ nickname: `customer-${users[0]!.slice(-6)}` });
    expect((await s.fake.control.profileBatches()).slice(before)).toEqual([3]);
  });
});
