import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseEnv } from 'node:util';
import { envSchema } from './config-schema.js';
import { toRelayConfig, type RelayConfig } from './relay-config.js';
import { RelayError } from '../errors/relay-error.js';
import { placeholderSecretProblems } from './placeholder-secret.js';

/**
 * Reads the configuration once: variables from the environment override those in `.env` (when the file exists).
 * Every problem is reported together in one CONFIG_INVALID error; values of variables are never echoed.
 */
export function loadConfig(
  env: NodeJS.ProcessEnv = process.env,
  options: { envFile?: string | null } = {},
): RelayConfig {
  const envFile = options.envFile === undefined ? resolve('.env') : options.envFile;
  const fromFile = envFile && existsSync(envFile) ? parseEnv(readFileSync(envFile, 'utf8')) : {};
  const merged: Record<string, string | undefined> = { ...fromFile, ...env };
  // Empty strings mean "unset" (a blank line in .env or `FOO=` in compose) so defaults apply.
  for (const [k, v] of Object.entries(merged)) if (v === '') delete merged[k];
  const parsed = envSchema.safeParse(merged);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}`);
    throw new RelayError('CONFIG_INVALID', `configuration is invalid:\n  - ${problems.join('\n  - ')}`, { problems });
  }
  const unsafe = placeholderSecretProblems(parsed.data);
  if (unsafe.length > 0) {
    throw new RelayError('CONFIG_INVALID', `configuration is invalid:\n  - ${unsafe.join('\n  - ')}`, { problems: unsafe });
  }
  return toRelayConfig(parsed.data);
}
