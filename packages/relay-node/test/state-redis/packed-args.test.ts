import { describe, expect, it } from 'vitest';
import { PackedArgs, packedFormat } from '../../src/state/redis/packed-args.js';
import { ownRedisServer } from './helpers.js';

/** Packed arguments as a script on a real Redis reads them back with struct.unpack. */
const own = ownRedisServer();

// Reads `n` values at a time from ARGV[1] until it ends: each group as one reply, then the position after the last.
const READ_BACK = `
local out, pos = {}, 1
while pos <= #ARGV[1] do
  local values = {struct.unpack(ARGV[2], ARGV[1], pos)}
  pos = table.remove(values)
  out[#out + 1] = values
end
return out
`;

describe('PackedArgs', () => {
  it('gives a script back every value, byte for byte, in the order pushed: multi-byte text, empty strings and bytes', async () => {
    const packed = new PackedArgs();
    const bytes = Buffer.from([0, 255, 10, 13, 0x7f, 0x80]);
    packed.push('客服消息 😀', '', bytes);
    packed.push('{"content":"你好\\n"}', 'plain', Buffer.alloc(0));
    const reply = (await own.redis.callBuffer('EVAL', READ_BACK, 0, packed.toBuffer(), packedFormat(3))) as Buffer[][];
    expect(reply.map((group) => group.map((b) => Buffer.from(b)))).toEqual([
      [Buffer.from('客服消息 😀'), Buffer.alloc(0), bytes],
      [Buffer.from('{"content":"你好\\n"}'), Buffer.from('plain'), Buffer.alloc(0)],
    ]);
  });

  it('packs nothing into an empty argument', () => {
    expect(new PackedArgs().toBuffer()).toHaveLength(0);
  });
});
