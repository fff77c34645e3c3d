/**
 * The pull leases one node holds, so that with several kf accounts a node already pulling some of them lets a
 * node pulling fewer take the next: before trying for an account's lease, a node holding k leases of other
 * accounts waits k × `stepMs`. A node holding none never waits, so one account (or one node) pulls as before;
 * a busy account's callbacks land on every node through the balancer, so an idle node is there to take it.
 */
export class LeaseSpread {
  private readonly held = new Set<string>();

  constructor(private readonly stepMs: number) {}

  /** How long to wait before trying for `openKfid`'s lease. */
  delayFor(openKfid: string): number {
    let others = 0;
    for (const kf of this.held) if (kf !== openKfid) others++;
    return others * this.stepMs;
  }

  /** This node took the account's lease. */
  acquired(openKfid: string): void {
    this.held.add(openKfid);
  }

  /** This node gave the account's lease up (or lost it). */
  released(openKfid: string): void {
    this.held.delete(openKfid);
  }

  /** The accounts whose lease this node holds now. */
  accounts(): string[] {
    return [...this.held];
  }
}
