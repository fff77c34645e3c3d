/** Messages between the bench and its gateway driver processes (Node IPC). */

/** How a run's relay gateways take delivery: `ack` (SDK gateways, acknowledged) or `legacy` (protocol v1, as deployed). */
export type Delivery = 'ack' | 'legacy';

/**
 * What the driver's gateways are: relay SDK gateways (acknowledged delivery), gateways speaking protocol v1 as the
 * deployed ones do (no `delivery` in hello, no acknowledgements), or Socket.IO clients.
 */
export type DriverMode = 'relay' | 'relay-legacy' | 'peer';

/** One gateway to open: where it connects first (`home`) and where it goes when that node is gone. */
export interface GatewaySpec {
  index: number;
  home: number;
}

/** Bench → driver. */
export type DriverRequest =
  | {
      type: 'connect';
      mode: DriverMode;
      urls: string[];
      gateways: GatewaySpec[];
      relaySecret: string;
      /** Connects in flight at once. */
      batch: number;
      /** Give up on a connect after this long. */
      timeoutMs: number;
    }
  | { type: 'count' }
  | { type: 'drain' }
  | { type: 'mark' }
  | { type: 'dropped' }
  | { type: 'close' };

/** Driver → bench. */
export type DriverReply =
  | { type: 'connected'; ok: number; failed: number; firstError?: string }
  /** Frames received since the last drain, and sockets open now. */
  | { type: 'count'; received: number; open: number }
  | { type: 'drained'; ids: string[]; at: number[] }
  | { type: 'marked' }
  /** Gateways whose socket dropped since the mark, how many of them are open again, and when the last reopened. */
  | { type: 'dropped'; dropped: number; reopened: number; lastReopenAt: number }
  | { type: 'closed' };

