import type { SentMessage } from './control-types.js';

/** What the relay sent, for tests to inspect, and the msgids already used on the kf account. */
export class SentLog {
  readonly #sent: SentMessage[] = [];
  readonly #msgids = new Set<string>();

  /** Whether a client msgid was already used (WeCom requires uniqueness per kf account). */
  hasMsgid(msgid: string): boolean {
    return this.#msgids.has(msgid);
  }

  /** Records an accepted message. */
  record(message: SentMessage): void {
    this.#msgids.add(message.msgid);
    this.#sent.push(message);
  }

  /** The message sent with this msgid (the live record: kf/recall_msg marks it). */
  find(msgid: string): SentMessage | undefined {
    return this.#sent.find((m) => m.msgid === msgid);
  }

  /** Messages to one customer, or all, oldest first. */
  list(touser?: string): SentMessage[] {
    return touser === undefined ? [...this.#sent] : this.#sent.filter((m) => m.touser === touser);
  }

  /** Forgets the messages; used msgids stay used, as they would on WeCom. */
  reset(): void {
    this.#sent.length = 0;
  }
}
