/** Media the inliner cannot fetch: a passing failure (retry later) vs one that never passes (delivered without it, logged). */
import { describe, expect, it } from 'vitest';
import { MediaInliner, TransientMediaError } from '../../src/delivery/media-inliner.js';
import { Semaphore } from '../../src/util/semaphore.js';
import { LEVEL, capturingLogger } from './delivery-log-capture.js';

function inliner(fail: (mediaId: string) => unknown) {
  const log = capturingLogger();
  const asked: Array<{ mediaId: string; maxBytes: number }> = [];
  const media = new MediaInliner({
    source: {
      download: async (mediaId: string, options: { maxBytes: number }) => {
        asked.push({ mediaId, maxBytes: options.maxBytes });
        const err = fail(mediaId);
        if (err) throw err;
        return { data: Buffer.from('img'), mime: 'image/png' };
      },
    },
    maxBytes: 4096,
    transfers: new Semaphore(1),
    logger: log.logger,
  });
  return { media, log, asked };
}

describe('media inliner errors', () => {
  it('asks WeCom for the file with the size limit', async () => {
    const { media, asked } = inliner(() => null);
    expect(await media.fetch('pic')).toEqual({ base64: Buffer.from('img').toString('base64'), mime: 'image/png' });
    expect(asked).toEqual([{ mediaId: 'pic', maxBytes: 4096 }]);
  });

  it('WeCom unavailable: a retryable error with a stable code, its message and cause, and no log line', async () => {
    const cause = Object.assign(new Error('busy'), { code: 'WECOM_UNAVAILABLE' });
    const { media, log } = inliner(() => cause);
    const err = await media.fetch('pic').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientMediaError);
    expect(err).toMatchObject({ code: 'WECOM_MEDIA_FAILED', message: 'media download failed; will retry', cause });
    expect(log.lines).toEqual([]);
  });

  it('media that can never be fetched is answered with media_error and logged with its id', async () => {
    const { media, log } = inliner(() => Object.assign(new Error('expired'), { code: 'WECOM_API_ERROR' }));
    expect(await media.fetch('gone')).toEqual({ error: 'unavailable' });
    expect(log.lines.map((l) => [l.level, l.msg, l.mediaId, (l.err as { message?: string }).message])).toEqual([
      [LEVEL.warn, 'media cannot be downloaded; delivering the message without it', 'gone', 'expired'],
    ]);
  });
});
