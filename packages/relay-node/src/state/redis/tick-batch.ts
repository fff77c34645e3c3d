/**
 * Gathers the calls made in one turn of the event loop and runs them as one batch: one Redis command for what would
 * have been one per call. A page router that looks up a thousand users side by side (`Promise.all(users.map(...))`)
 * makes all its calls before the turn ends, so they become one command; a lone call is a batch of one, one tick late.
 *
 * Each batch holds at most `maxItems` calls, so one command (and the time a script holds the server) stays bounded.
 * When a batch fails, every call in it rejects with that error, as each would have alone: callers already treat a
 * failed lookup or append as "try the page again".
 */
export class TickBatch<I, O> {
  private pending: Array<{ input: I; resolve: (value: O) => void; reject: (err: unknown) => void }> = [];

  constructor(
    /** Runs one batch; resolves to one output per input, in order. */
    private readonly runBatch: (inputs: I[]) => Promise<O[]>,
    private readonly maxItems = 256,
  ) {}

  /** Queues one call; resolves to its output once its batch has run. */
  add(input: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      // nextTick runs after the current synchronous code and the promise continuations already queued, so the
      // calls of a `map` and of the continuations one batch resolves all land in the same batch.
      if (this.pending.length === 0) process.nextTick(() => this.flush());
      this.pending.push({ input, resolve, reject });
      if (this.pending.length >= this.maxItems) this.flush();
    });
  }

  private flush(): void {
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    let outputs: Promise<O[]>;
    try {
      outputs = this.runBatch(batch.map((call) => call.input));
    } catch (err) {
      outputs = Promise.reject(err);
    }
    outputs.then(
      (values) => {
        if (values.length !== batch.length) {
          const err = new Error(`batch of ${batch.length} calls answered ${values.length} results`);
          for (const call of batch) call.reject(err);
          return;
        }
        batch.forEach((call, i) => call.resolve(values[i]!));
      },
      (err: unknown) => {
        for (const call of batch) call.reject(err);
      },
    );
  }
}
