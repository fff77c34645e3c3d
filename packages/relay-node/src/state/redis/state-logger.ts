import type { Logger } from 'pino';

/** The logging a Redis state class needs; a pino logger fits. */
export type StateLogger = Pick<Logger, 'info' | 'warn' | 'error'>;
