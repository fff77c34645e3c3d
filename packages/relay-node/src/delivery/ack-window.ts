/** One item passed to an ack-mode gateway and not yet confirmed. */
interface Passed {
  id: string;
  /** The id read right before this one (null when read from the start of the queue). */
  prev: string | null;
  /** Skipped (not sent): acknowledged together with the sent item before it, never on its own. */
  silent: boolean;
  enqueuedAt: number;
}

/** What to acknowledge in the queue: up to `upTo`, and when that is one item alone, the id read right before it. */
export interface AckRange {
  upTo: string;
  /** The id read right before `upTo` when the range is `upTo` alone; null when it covers more, or nothing was before. */
  prev: string | null;
}

/**
 * Ack mode: the items passed since the last acknowledgement, oldest first. Acknowledging is cumulative, so a
 * skipped item is confirmed only with the sent item before it (or at once when nothing sent is unconfirmed),
 * and an id this socket was never sent confirms nothing.
 */
export class AckWindow {
  private passed: Passed[] = [];

  get length(): number {
    return this.passed.length;
  }

  /** Epoch ms the oldest unconfirmed item was appended, or null. */
  get oldestEnqueuedAt(): number | null {
    return this.passed[0]?.enqueuedAt ?? null;
  }

  /**
   * Records an item the drain passed (`prev`: the id read right before it); returns what to acknowledge at once (a
   * skipped item with nothing unconfirmed before it), or null when it waits for the gateway's confirmation.
   */
  pass(id: string, silent: boolean, enqueuedAt: number, prev: string | null = null): AckRange | null {
    if (silent && this.passed.length === 0) return { upTo: id, prev };
    this.passed.push({ id, prev, silent, enqueuedAt });
    return null;
  }

  /**
   * The gateway confirmed `deliveryId`: what to acknowledge in the queue (up to the confirmed one, or the last
   * skipped item right behind it), or null when the id is not one this socket was sent and still waits for.
   */
  confirm(deliveryId: string): AckRange | null {
    const at = this.passed.findIndex((i) => i.id === deliveryId && !i.silent);
    if (at === -1) return null;
    const confirmed = this.passed.splice(0, at + 1);
    while (this.passed[0]?.silent) confirmed.push(this.passed.shift()!);
    return { upTo: confirmed[confirmed.length - 1]!.id, prev: confirmed.length === 1 ? confirmed[0]!.prev : null };
  }

  /** Whether the id was passed and is unconfirmed. */
  holds(id: string): boolean {
    return this.passed.some((i) => i.id === id);
  }

  /**
   * A redeliver from `target`: unconfirmed items after it are forgotten (they are read and sent again); when the
   * target is not in the window (the last acknowledged id, or acknowledged meanwhile), nothing stays.
   */
  rewindTo(target: string | null): void {
    const at = target === null ? -1 : this.passed.findIndex((i) => i.id === target);
    this.passed = at === -1 ? [] : this.passed.slice(0, at + 1);
  }
}
