import { isIP } from 'node:net';
import type { Env } from './config-schema.js';

/** RELAY_AUTH_SECRET as shipped in `.env.example`: fine against the fake WeCom on this machine, never beyond it. */
export const PLACEHOLDER_AUTH_SECRET = 'change-me-to-a-long-random-secret';

/** Whether a URL's host is this machine (localhost, 127.0.0.0/8, ::1). */
export function isLoopbackUrl(url: string): boolean {
  let host: string;
  try {
    host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  } catch {
    return false;
  }
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

/**
 * Problems with a copied `.env.example` reaching a real WeCom: anyone who read the example could mint every
 * gateway's token. Reported like any other configuration problem.
 */
export function placeholderSecretProblems(env: Pick<Env, 'RELAY_AUTH_SECRET' | 'WECOM_API_BASE'>): string[] {
  if (env.RELAY_AUTH_SECRET !== PLACEHOLDER_AUTH_SECRET || isLoopbackUrl(env.WECOM_API_BASE)) return [];
  return [
    'RELAY_AUTH_SECRET: is the placeholder from .env.example, which is accepted only while WECOM_API_BASE is on ' +
      'this machine (the fake WeCom); set a long random secret, e.g. `openssl rand -hex 32`',
  ];
}
