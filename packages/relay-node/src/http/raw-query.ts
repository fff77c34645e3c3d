/**
 * Parses a query string with decodeURIComponent only. URLSearchParams would turn `+` into a space, which breaks
 * both the signature and the base64 of an echostr that reached us with a literal `+`.
 * Returns null for malformed percent-encoding.
 */
export function parseRawQuery(url: string): Map<string, string> | null {
  const q = url.indexOf('?');
  const out = new Map<string, string>();
  if (q === -1) return out;
  for (const part of url.slice(q + 1).split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    try {
      const key = decodeURIComponent(eq === -1 ? part : part.slice(0, eq));
      const value = eq === -1 ? '' : decodeURIComponent(part.slice(eq + 1));
      if (!out.has(key)) out.set(key, value);
    } catch {
      return null;
    }
  }
  return out;
}

/**
 * Keys that appear more than once in the query. A signed request with two values for one field is ambiguous
 * (which one did the signer mean?), so the webhook refuses it instead of picking one.
 */
export function repeatedKeys(url: string): string[] {
  const q = url.indexOf('?');
  if (q === -1) return [];
  const seen = new Set<string>();
  const repeated = new Set<string>();
  for (const part of url.slice(q + 1).split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    let key: string;
    try {
      key = decodeURIComponent(eq === -1 ? part : part.slice(0, eq));
    } catch {
      continue; // parseRawQuery reports malformed encoding
    }
    if (seen.has(key)) repeated.add(key);
    seen.add(key);
  }
  return [...repeated];
}
