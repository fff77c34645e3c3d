/** A listener map: event name → listener signature. */
export type ListenerMap = { [event: string]: (...args: never[]) => unknown };

/**
 * A small typed event emitter that works the same in browsers and Node. `emit` returns what listeners returned,
 * so the SDK can wait for async handlers; a listener that throws synchronously is reported as a rejection.
 */
export class TypedEmitter<L extends ListenerMap> {
  private readonly listeners = new Map<keyof L, Set<L[keyof L]>>();

  /** Adds a listener; returns a function that removes it. */
  on<E extends keyof L>(event: E, listener: L[E]): () => void {
    let set = this.listeners.get(event);
    if (!set) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(listener);
    return () => this.off(event, listener);
  }

  /** Removes a listener. */
  off<E extends keyof L>(event: E, listener: L[E]): void {
    this.listeners.get(event)?.delete(listener);
  }

  /** Number of listeners for an event. */
  listenerCount(event: keyof L): number {
    return this.listeners.get(event)?.size ?? 0;
  }

  /** Calls every listener of `event` and resolves when all of them have settled; rejects with the first failure. */
  protected async emitAndWait<E extends keyof L>(event: E, ...args: Parameters<L[E]>): Promise<void> {
    const set = this.listeners.get(event);
    if (!set || set.size === 0) return;
    const results = [...set].map((listener) => {
      try {
        return Promise.resolve((listener as (...a: Parameters<L[E]>) => unknown)(...args));
      } catch (err) {
        return Promise.reject(err);
      }
    });
    const settled = await Promise.allSettled(results);
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** Calls every listener of `event` without waiting; a listener's failure is handed to `onFailure`. */
  protected emitDetached<E extends keyof L>(event: E, onFailure: (err: unknown) => void, ...args: Parameters<L[E]>): void {
    this.emitAndWait(event, ...args).catch(onFailure);
  }
}
