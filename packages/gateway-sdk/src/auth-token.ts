interface SubtleLike {
  importKey(format: 'raw', key: Uint8Array, algorithm: { name: 'HMAC'; hash: 'SHA-256' }, extractable: false, usages: ['sign']): Promise<unknown>;
  sign(algorithm: 'HMAC', key: unknown, data: Uint8Array): Promise<ArrayBuffer>;
}

/**
 * A gateway's auth_token, `hex(HMAC-SHA256(RELAY_AUTH_SECRET, gatewayId))`, computed with WebCrypto (browsers,
 * Node ≥ 20). For provisioning tools: the relay secret mints a token for every gateway id, so it belongs on
 * your server, never in a gateway app; give each gateway only its own token.
 */
export async function gatewayAuthToken(relaySecret: string, gatewayId: string): Promise<string> {
  const subtle = (globalThis as unknown as { crypto?: { subtle?: SubtleLike } }).crypto?.subtle;
  if (!subtle) throw new TypeError('gatewayAuthToken needs WebCrypto (globalThis.crypto.subtle)');
  const encoder = new TextEncoder();
  const key = await subtle.importKey('raw', encoder.encode(relaySecret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const mac = new Uint8Array(await subtle.sign('HMAC', key, encoder.encode(gatewayId)));
  let hex = '';
  for (const byte of mac) hex += byte.toString(16).padStart(2, '0');
  return hex;
}
