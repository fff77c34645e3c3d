/**
 * Run as its own process by http-request.test.ts: makes every kind of WeCom call the relay makes (token, JSON,
 * multipart upload, whole and streamed download) against the fake at FAKE_URL, then prints which of Node's lazily
 * loaded HTTP stacks the process ended up with.
 */
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { MemoryAccessTokenStore } from '../../../src/state/memory/memory-access-token-store.js';
import { createWecomClient } from '../../../src/wecom/index.js';

const env = process.env;
const client = createWecomClient({
  apiBase: env.FAKE_URL!,
  corpId: env.FAKE_CORPID!,
  secret: env.FAKE_SECRET!,
  tokenStore: new MemoryAccessTokenStore(),
  logger: pino({ level: 'silent' }),
});
const file = randomBytes(64 * 1024);
await client.kf.syncMsg({ openKfid: env.FAKE_OPEN_KFID! });
const mediaId = await client.media.upload('file', file, 'report.bin', 'application/octet-stream');
const whole = await client.media.download(mediaId, { maxBytes: 1024 * 1024 });
const opened = await client.media.open(mediaId);
const parts: Uint8Array[] = [];
for await (const chunk of opened.chunks) parts.push(chunk);
process.stdout.write(
  JSON.stringify({
    downloaded: whole.data.equals(file),
    streamed: Buffer.concat(parts).equals(file),
    // Node's list of the internal modules it has loaded (not in @types/node).
    undici: (process as unknown as { moduleLoadList: string[] }).moduleLoadList.some((m) => m.includes('undici')),
  }),
);
