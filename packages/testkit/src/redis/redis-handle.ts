/** A Redis server a test can use, and, when the test kit started it, control over its life. */
export interface RedisHandle {
  /** redis://host:port, ready for `new Redis(url)`. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** False when the handle points at a shared server from REDIS_URL; kill() and restart() then throw. */
  readonly ownServer: boolean;
  /** Shuts the server down and removes its data directory; a no-op for a shared server. Idempotent. */
  stop(): Promise<void>;
  /** Kills the server abruptly (SIGKILL), keeping its data directory so restart() can bring it back. */
  kill(): Promise<void>;
  /** Stops the server if it runs and starts it again on the same port with the same data directory. */
  restart(): Promise<void>;
}

/** Stable reasons the test kit could not give a test the Redis it asked for. */
export type RedisTestkitErrorCode = 'REDIS_UNAVAILABLE' | 'REDIS_NOT_OWNED' | 'REDIS_START_FAILED';

/** An error from the Redis part of the test kit, with a stable code. */
export class RedisTestkitError extends Error {
  readonly code: RedisTestkitErrorCode;

  constructor(code: RedisTestkitErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'RedisTestkitError';
    this.code = code;
  }
}
