import type { IncomingMessage, ServerResponse } from 'node:http';

/** Raised when a request body exceeds the cap; the caller answers instead of buffering without bound. */
export class BodyTooLargeError extends Error {
  readonly code = 'BODY_TOO_LARGE';
  constructor(readonly limit: number) {
    super(`request body exceeds ${limit} bytes`);
    this.name = 'BodyTooLargeError';
  }
}

/** Buffers a request body up to maxBytes. */
export async function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    total += buf.length;
    if (total > maxBytes) {
      // Drain the rest so the socket can still carry the answer.
      req.resume();
      throw new BodyTooLargeError(maxBytes);
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

/** Parses a JSON object body; null for anything that is not one. */
export function parseJsonObject(body: Buffer): Record<string, unknown> | null {
  if (body.length === 0) return {};
  try {
    const value: unknown = JSON.parse(body.toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** Writes a JSON answer. */
export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = Buffer.from(JSON.stringify(value), 'utf8');
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': body.length });
  res.end(body);
}

/** Writes raw bytes with the given headers. */
export function sendBytes(res: ServerResponse, status: number, data: Buffer, headers: Record<string, string>): void {
  res.writeHead(status, { ...headers, 'content-length': data.length });
  res.end(data);
}

/** A string field of a JSON body, or undefined when absent or not a string. */
export function str(body: Record<string, unknown>, key: string): string | undefined {
  const v = body[key];
  return typeof v === 'string' ? v : undefined;
}

/** An object field of a JSON body, or undefined. */
export function obj(body: Record<string, unknown>, key: string): Record<string, unknown> | undefined {
  const v = body[key];
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}
