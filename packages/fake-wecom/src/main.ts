/**
 * CLI: runs a fake WeCom until SIGINT/SIGTERM. Prints one JSON line {"event":"listening","url":...} on stdout when
 * ready (tests wait for it); logs go to stderr.
 */
import { pino } from 'pino';
import { FAKE_WECOM_DEFAULTS, startFakeWecom } from './index.js';

function numberFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n)) throw new Error(`${name} must be a number`);
  return n;
}

const logger = pino({ level: process.env['LOG_LEVEL'] ?? 'info' }, pino.destination(2));
const env = process.env;

try {
  const fake = await startFakeWecom({
    port: numberFromEnv('FAKE_WECOM_PORT', 9100),
    host: env['FAKE_WECOM_HOST'] || FAKE_WECOM_DEFAULTS.host,
    corpId: env['FAKE_WECOM_CORPID'] || FAKE_WECOM_DEFAULTS.corpId,
    corpSecret: env['FAKE_WECOM_SECRET'] || FAKE_WECOM_DEFAULTS.corpSecret,
    callbackToken: env['FAKE_WECOM_TOKEN'] || FAKE_WECOM_DEFAULTS.callbackToken,
    encodingAesKey: env['FAKE_WECOM_AES_KEY'] || FAKE_WECOM_DEFAULTS.encodingAesKey,
    // A comma-separated list serves several kf accounts; the first is the one control calls default to.
    openKfid: (env['FAKE_WECOM_OPEN_KFID'] ?? '').split(',')[0]?.trim() || FAKE_WECOM_DEFAULTS.openKfid,
    moreOpenKfids: (env['FAKE_WECOM_OPEN_KFID'] ?? '').split(',').slice(1).map((k) => k.trim()).filter(Boolean),
    callbackUrls: (env['FAKE_WECOM_CALLBACK_URLS'] ?? '')
      .split(',')
      .map((u) => u.trim())
      .filter((u) => u !== ''),
    accessTokenTtlSeconds: numberFromEnv('FAKE_WECOM_TOKEN_TTL_SECONDS', FAKE_WECOM_DEFAULTS.accessTokenTtlSeconds),
    rateLimitPerMinute: numberFromEnv('FAKE_WECOM_RATE_LIMIT_PER_MINUTE', FAKE_WECOM_DEFAULTS.rateLimitPerMinute),
    largeMediaThresholdBytes: numberFromEnv('FAKE_WECOM_LARGE_MEDIA_BYTES', FAKE_WECOM_DEFAULTS.largeMediaThresholdBytes),
    logger,
  });
  process.stdout.write(`${JSON.stringify({ event: 'listening', url: fake.url })}\n`);
  const stop = (signal: string) => {
    logger.info({ signal }, 'stopping');
    fake.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
} catch (err) {
  logger.fatal({ err }, 'fake wecom failed to start');
  process.exit(1);
}
