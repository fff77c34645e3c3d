import { ERROR_CATALOG, type ErrorCode } from './error-catalog.js';

/** An error with a stable catalog code; protocol errors also know the close code to send. */
export class RelayError extends Error {
  readonly code: ErrorCode;
  readonly status: number | undefined;
  readonly closeCode: number | undefined;
  /** Extra structured facts (WeCom errcode, request id, ...) safe to log and to show the gateway. */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message?: string, details: Record<string, unknown> = {}, options?: ErrorOptions) {
    const entry = ERROR_CATALOG[code];
    super(message ?? entry.message, options);
    this.name = 'RelayError';
    this.code = code;
    this.status = 'status' in entry ? entry.status : undefined;
    this.closeCode = 'closeCode' in entry ? entry.closeCode : undefined;
    this.details = details;
  }
}

/** Narrows unknown to RelayError. */
export function isRelayError(err: unknown): err is RelayError {
  return err instanceof RelayError;
}
