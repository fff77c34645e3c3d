import { createHash } from 'node:crypto';
import type { RedisClient } from './redis-client.js';

/**
 * A Lua script run by EVALSHA, falling back to EVAL (which also caches it again) when the server
 * answers NOSCRIPT after a restart, failover or SCRIPT FLUSH.
 */
export class LuaScript {
  /** SHA1 of the source, as the server names it. */
  readonly sha: string;

  constructor(
    /** For error messages only. */
    readonly name: string,
    readonly source: string,
  ) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  /**
   * Runs the script. On a Redis Cluster every key it touches must share one hash slot, and be in `keys` unless its name
   * carries a declared key's slot as hash tag (packed trees): Redis then refuses, rather than misses, such a key while its
   * slot migrates. A script for one server only may name its keys in its arguments (the route script packs them).
   * One Buffer among the arguments makes ioredis encode every argument of the call apart: cheap for a call of a few
   * (one that packs its values, see PackedArgs), dear for one of thousands (binary values then go as hex, see
   * packedFieldArg).
   */
  async run(redis: RedisClient, keys: readonly string[], args: ReadonlyArray<string | number | Buffer>): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!isNoScript(err)) throw err;
      return await redis.eval(this.source, keys.length, ...keys, ...args);
    }
  }
}

function isNoScript(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('NOSCRIPT');
}
