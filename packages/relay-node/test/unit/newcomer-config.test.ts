import { readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { PLACEHOLDER_AUTH_SECRET } from '../../src/config/placeholder-secret.js';
import { formatLogLine, wantsPrettyLogs } from '../../src/observability/pretty-log-stream.js';
import { RelayError } from '../../src/errors/relay-error.js';

const example = parseEnv(readFileSync(new URL('../../../../.env.example', import.meta.url), 'utf8'));

function problemOf(env: Record<string, string>): string | null {
  try {
    loadConfig(env, { envFile: null });
    return null;
  } catch (err) {
    expect(err).toBeInstanceOf(RelayError);
    return (err as RelayError).message;
  }
}

describe('the placeholder secret from .env.example', () => {
  it('is the one .env.example ships', () => {
    expect(example.RELAY_AUTH_SECRET).toBe(PLACEHOLDER_AUTH_SECRET);
  });

  it('starts a node against a WeCom on this machine (the fake), as the quick start does', () => {
    expect(problemOf(example as Record<string, string>)).toBeNull();
    for (const base of ['http://localhost:9100', 'http://127.0.0.2:9100', 'http://[::1]:9100']) {
      expect(problemOf({ ...example, WECOM_API_BASE: base } as Record<string, string>)).toBeNull();
    }
  });

  it('is refused, with what to do, when WECOM_API_BASE is not local (or left at the real WeCom)', () => {
    const { WECOM_API_BASE: _, ...real } = example as Record<string, string>;
    for (const env of [real, { ...real, WECOM_API_BASE: 'http://10.0.0.5:9100' }, { ...real, WECOM_API_BASE: 'http://127.example.com' }]) {
      const message = problemOf(env);
      expect(message).toContain('RELAY_AUTH_SECRET');
      expect(message).toContain('placeholder');
      expect(message).toContain('openssl rand');
    }
    expect(problemOf({ ...real, RELAY_AUTH_SECRET: 'a-real-long-random-secret-value' })).toBeNull();
  });
});

describe('development logs', () => {
  it('are readable lines at a terminal and JSON when piped, unless LOG_FORMAT says otherwise', () => {
    expect(wantsPrettyLogs('auto', true)).toBe(true);
    expect(wantsPrettyLogs('auto', false)).toBe(false);
    expect(wantsPrettyLogs('json', true)).toBe(false);
    expect(wantsPrettyLogs('pretty', false)).toBe(true);
    const line = JSON.stringify({ level: 40, time: '2026-12-03T07:23:11.123Z', node: 'n1', component: 'gateway', gatewayId: 'gw-1', msg: 'slow reader' });
    expect(formatLogLine(line)).toBe('07:23:11.123 WARN  [gateway] slow reader gatewayId=gw-1\n');
    const withErr = JSON.stringify({ level: 50, time: '2026-12-03T07:23:11.123Z', msg: 'failed', err: { message: 'boom', stack: 'Error: boom\n    at x' } });
    expect(formatLogLine(withErr)).toContain('ERROR failed\n    Error: boom');
    expect(formatLogLine('not json')).toBe('not json\n');
  });
});
