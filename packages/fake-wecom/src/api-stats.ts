import type { FakeWecomStats } from './control-types.js';

/** Counts calls, errcodes and callbacks for GET /control/stats. */
export class ApiStats {
  #calls: Record<string, number> = {};
  #errors: Record<string, number> = {};
  #callbacksDelivered = 0;
  #callbacksFailed = 0;

  /** One call of an API. */
  call(api: string): void {
    this.#calls[api] = (this.#calls[api] ?? 0) + 1;
  }

  /** One answer with this errcode (0 is not counted). */
  answered(errcode: number): void {
    if (errcode !== 0) this.#errors[String(errcode)] = (this.#errors[String(errcode)] ?? 0) + 1;
  }

  /** One callback POST attempt. */
  callback(ok: boolean): void {
    if (ok) this.#callbacksDelivered++;
    else this.#callbacksFailed++;
  }

  /** A copy of the counters. */
  snapshot(tokensIssued: number): FakeWecomStats {
    return {
      calls: { ...this.#calls },
      errors: { ...this.#errors },
      tokens_issued: tokensIssued,
      callbacks_delivered: this.#callbacksDelivered,
      callbacks_failed: this.#callbacksFailed,
    };
  }

  /** Zeroes everything. */
  reset(): void {
    this.#calls = {};
    this.#errors = {};
    this.#callbacksDelivered = 0;
    this.#callbacksFailed = 0;
  }
}
