import { describe, expect, it } from 'vitest';
import { SAMPLE_AMR, SILK_HEADER } from '@wecom-relay/fake-wecom';
import { bindByScan } from './support/binding-steps.js';
import { newUserId, useRelayStack } from './support/relay-stack.js';

// A node that pulls customers' voice in WeChat's own format (sync_msg voice_format 1) instead of WeCom's default AMR.
const stack = useRelayStack({ relayEnv: { WECOM_VOICE_FORMAT: 'silk' } });

describe('WECOM_VOICE_FORMAT=silk', () => {
  it('delivers a voice message as the SILK file WeCom serves for voice_format 1', async () => {
    const s = stack();
    const gw = await s.gateway({ features: ['rich_inbound'] });
    const user = newUserId();
    await bindByScan(s, gw, user);
    const sent = await s.fake.control.customerMessage({ external_userid: user, msgtype: 'voice', media_base64: SAMPLE_AMR.toString('base64') });
    const frame = await gw.waitFor((f) => f.type === 'inbound' && f.id === sent.msgid);
    expect(frame).toMatchObject({ msg_type: 'voice', media_mime: 'voice/silk' });
    expect(Buffer.from(String(frame.media_data), 'base64').equals(Buffer.concat([SILK_HEADER, SAMPLE_AMR]))).toBe(true);
  });
});
