import type { ServerResponse } from 'node:http';
import type { RelayError } from '../errors/relay-error.js';

/** Writes a plain-text body exactly as given (WeCom compares the echo byte for byte). */
export function sendText(res: ServerResponse, status: number, body: string, contentType = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** Writes an error as JSON with its stable code. */
export function sendError(res: ServerResponse, err: RelayError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ code: err.code, message: err.message });
  res.writeHead(err.status ?? 500, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), connection: 'close' });
  res.end(body);
}
