/** One item passed to an ack-mode gateway and not yet confirmed. */
interface Passed {
  id: string;
  /** Skipped (not sent): acknowledged together with the sent item before it, never on its own. */
  silent: boolean;
  enqueuedAt: number;
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
   * Records an item the drain passed; resolves to the id to acknowledge at once (a skipped item with nothing
   * unconfirmed before it), or null when it waits for the gateway's confirmation.
   */
  pass(id: string, silent: boolean, enqueuedAt: number): string | null {
    if (silent && this.passed.length === 0) return id;
    this.passed.push({ id, silent, enqueuedAt });
    return null;
  }

  /**
   * The gateway confirmed `deliveryId`: the id to acknowledge in the queue (the confirmed one, or the last
   * skipped item right behind it), or null when the id is not one this socket was sent and still waits for.
   */
  confirm(deliveryId: string): string | null {
    const at = this.passed.findIndex((i) => i.id === deliveryId && !i.silent);
    if (at === -1) return null;
    this.passed.splice(0, at + 1);
    let upTo = deliveryId;
    while (this.passed[0]?.silent) upTo = this.passed.shift()!.id;
    return upTo;
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
