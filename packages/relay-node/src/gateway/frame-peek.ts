import type { Dialect } from '@wecom-relay/shared';
import type { RawData } from 'ws';

// Frames are flat JSON objects, so a quoted key can only be a top-level key: inside a string value every
// quote is escaped, which keeps these patterns from matching text a user typed.
const ID_PATTERN = /"id"\s*:\s*"((?:[^"\\]|\\.){1,256})"/;
const TYPE_PATTERN = /"type"\s*:\s*"([A-Za-z_]{1,64})"/;

/** What can still be learnt from a frame too large to decode: its request id and its dialect. */
export interface FramePeek {
  id: string | undefined;
  dialect: Dialect | undefined;
}

/**
 * Finds the request id and dialect of a frame without parsing it, so an oversized frame can still be
 * answered with an `error` that names the request. Linear in the frame size; never throws.
 */
export function peekFrame(text: string): FramePeek {
  const type = TYPE_PATTERN.exec(text)?.[1];
  return { id: peekId(text), dialect: type === undefined ? undefined : type.startsWith('cs_') ? 'cs' : 'plain' };
}

function peekId(text: string): string | undefined {
  const raw = ID_PATTERN.exec(text)?.[1];
  if (raw === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(`"${raw}"`);
    return typeof value === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}

/** ws hands over a Buffer, an ArrayBuffer or fragments depending on binaryType; this normalises to one Buffer. */
export function rawDataToBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/** WebSocket close reasons are limited to 123 bytes; longer ones would make ws throw. */
export function clampCloseReason(reason: string): string {
  if (Buffer.byteLength(reason) <= 123) return reason;
  let clamped = reason.slice(0, 123);
  while (Buffer.byteLength(clamped) > 123) clamped = clamped.slice(0, -1);
  return clamped;
}
