import { describe, expect, it } from 'vitest';
import { bindByScan } from './support/binding-steps.js';
import { newUserId, useRelayStack } from './support/relay-stack.js';

// A node that inlines at most 4 KiB of media, to see what a gateway gets for anything bigger.
const stack = useRelayStack({ relayEnv: { MEDIA_MAX_BYTES: '4096' } });

describe('media over the inline limit', () => {
  it('arrives without media_data, saying why, and the queue moves on', async () => {
    const s = stack();
    const gw = await s.gateway();
    const user = newUserId();
    await bindByScan(s, gw, user);
    const big = await s.fake.control.customerMessage({
      external_userid: user,
      msgtype: 'file',
      media_base64: Buffer.alloc(20_000, 7).toString('base64'),
      media_mime: 'application/octet-stream',
      media_filename: 'report.bin',
    });
    const small = await s.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'after the file' });

    const frame = await gw.waitFor((f) => f.type === 'inbound' && f.id === big.msgid);
    expect(frame).toMatchObject({ msg_type: 'unknown', wecom_msg_type: 'file', media_error: 'too_large' });
    expect(frame).not.toHaveProperty('media_data');
    await gw.waitFor((f) => f.type === 'inbound' && f.id === small.msgid);
  });
});
