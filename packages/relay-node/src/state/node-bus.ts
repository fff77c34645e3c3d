import type { AppendedRun } from './delivery-queue.js';

/** Signals between relay nodes, addressed to one node's channel. Best effort: the data itself sits in queues. */
export type BusMessage =
  /**
   * Items were appended to this gateway's delivery queue; the owner should drain it. `run`, when given, holds them, so
   * the owner can write them without reading the queue (relays before it ignore it and read).
   */
  | { kind: 'wake'; gatewayId: string; sentAt: number; run?: AppendedRun }
  /** Items were appended to each of these gateways' queues (one pulled page); the owner should drain them. `runs` as `run` above, by gateway. */
  | { kind: 'wake-many'; gatewayIds: string[]; sentAt: number; runs?: Record<string, AppendedRun> }
  /** A newer connection for this gateway was claimed elsewhere; close any older local socket. */
  | { kind: 'superseded'; gatewayId: string; generation: number }
  /** An operator asked (admin API) that the node holding this ack-mode gateway send again from afterId. */
  | { kind: 'redeliver'; gatewayId: string; afterId: string | null; by: string }
  /** An operator asked (admin API) that this node hand its gateways over and stop. */
  | { kind: 'drain'; by: string };

/** Publishes to and listens on per-node channels. */
export interface NodeBus {
  /** Sends to one node's channel; resolves to whether any node was listening. */
  publish(nodeId: string, message: BusMessage): Promise<boolean>;
  /** Listens on this node's channel; resolves once the subscription is live. */
  subscribe(nodeId: string, handler: (message: BusMessage) => void): Promise<void>;
  /** Whether the subscription is currently live (false while the backend reconnects). */
  isLive(): boolean;
  close(): Promise<void>;
}
