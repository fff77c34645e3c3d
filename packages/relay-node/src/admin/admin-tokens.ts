import { timingSafeStringEqual } from '@wecom-relay/shared';

/** One operator credential: the name logged with each action, and the bearer token (never logged). */
export interface AdminToken {
  name: string;
  token: string;
}

const NAME = /^[A-Za-z0-9._-]{1,64}$/;
/** Shorter tokens are refused: the admin API can unbind users and drain nodes. */
export const MIN_ADMIN_TOKEN_LENGTH = 16;

/**
 * Parses ADMIN_TOKENS (`name:token,name:token`) and ADMIN_TOKEN (a single token, named `admin`). Throws an Error
 * naming the entry (never its token) when one is malformed, too short or named twice.
 */
export function parseAdminTokens(list: string | undefined, single: string | undefined): AdminToken[] {
  const tokens: AdminToken[] = [];
  if (single !== undefined) tokens.push({ name: 'admin', token: single });
  for (const [index, entry] of (list ?? '').split(',').map((e) => e.trim()).filter(Boolean).entries()) {
    const at = entry.indexOf(':');
    const name = at === -1 ? '' : entry.slice(0, at);
    if (!NAME.test(name)) throw new Error(`entry ${index + 1} must be name:token, the name of letters, digits, . _ - (max 64)`);
    tokens.push({ name, token: entry.slice(at + 1) });
  }
  const seen = new Set<string>();
  for (const { name, token } of tokens) {
    if (token.length < MIN_ADMIN_TOKEN_LENGTH) throw new Error(`the token named ${name} must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters`);
    if (seen.has(name)) throw new Error(`the name ${name} is used twice`);
    seen.add(name);
  }
  return tokens;
}

/**
 * The name of the token an `Authorization: Bearer ...` header carries, or null. Every configured token is compared,
 * each in constant time, so timing tells neither which one matched nor how much of one did.
 */
export function adminCaller(tokens: readonly AdminToken[], authorization: string | undefined): string | null {
  const match = /^Bearer ([^\s]+)$/i.exec(authorization?.trim() ?? '');
  const presented = match?.[1] ?? '';
  let caller: string | null = null;
  for (const { name, token } of tokens) {
    if (timingSafeStringEqual(presented, token) && match !== null && caller === null) caller = name;
  }
  return caller;
}
