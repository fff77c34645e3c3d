/** A control-surface request the fake cannot act on; answered with HTTP 400 and this code. */
export class ControlError extends Error {
  constructor(
    readonly code: 'CONTROL_BAD_REQUEST' | 'CONTROL_NOT_FOUND' | 'CONTROL_SCAN_REFUSED',
    message: string,
  ) {
    super(message);
    this.name = 'ControlError';
  }
}

/** A required non-empty string field of a control request. */
export function requireString(input: object, key: string): string {
  const v = (input as Record<string, unknown>)[key];
  if (typeof v !== 'string' || v === '') throw new ControlError('CONTROL_BAD_REQUEST', `${key} must be a non-empty string`);
  return v;
}
