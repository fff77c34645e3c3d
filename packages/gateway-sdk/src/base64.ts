/** Base64 of bytes with the platform's btoa (browsers, Node ≥ 16), in chunks so large images do not overflow the stack. */
export function bytesToBase64(bytes: Uint8Array): string {
  let binary = '';
  const CHUNK = 0x8000;
  for (let i = 0; i < bytes.length; i += CHUNK) {
    binary += String.fromCharCode(...bytes.subarray(i, i + CHUNK));
  }
  return (globalThis as unknown as { btoa: (s: string) => string }).btoa(binary);
}
