import type { BackoffOptions } from './backoff.js';
import type { Clock } from './clock.js';
import type { DeliveryStore } from './delivery-store.js';
import type { Delivery } from './event-processor.js';
import type {
  BindingCleared,
  BindingResolved,
  DeliveredEvent,
  InboundMessage,
  MessageRecalled,
  RelayErrorFrame,
  SendFailed,
  ServicerMessage,
  SessionEntered,
  SessionStatus,
  CustomerRejected,
  StateChange,
} from './events.js';
import type { StopReason } from './gateway-error.js';
import type { WebSocketConstructor } from './websocket-like.js';
import type { Dialect } from './wire.js';

/** How to reach the relay, who to be there, and how to behave. */
export interface RelayGatewayOptions {
  /** The relay's WebSocket URL, e.g. `wss://relay.example.com/`. */
  url: string;
  gatewayId: string;
  /** This gateway's token (`pnpm relay token <gateway-id>` prints it), or a function fetching it before each connect. */
  authToken: string | (() => string | Promise<string>);
  /** Wire dialect (default `plain`); `cs` speaks the `cs_` frames. */
  dialect?: Dialect;
  /** Where processed events are remembered (default: in memory). See `@wecom-relay/gateway/node-file-store`. */
  store?: DeliveryStore;
  /** WebSocket implementation; default `globalThis.WebSocket` (browsers, Node ≥ 22). On Node 20 pass `ws`'s. */
  WebSocket?: WebSocketConstructor;
  /** Reconnect backoff (default 500 ms doubling to 30 s, half of it jitter). */
  reconnect?: BackoffOptions;
  /**
   * A socket on which nothing arrived for this long is considered dead and replaced. Any frame counts, and so
   * do the relay's WebSocket pings (every 30 s) where the implementation reports them (`ws` does, browsers do
   * not). Default 75 s where pings are visible; off otherwise unless you set it (then pick a value above your
   * traffic's quiet periods, or the gateway reconnects needlessly). 0 turns it off.
   */
  livenessTimeoutMs?: number;
  /** How long a request (reply, createBinding, ...) waits for the relay's answer, across reconnects (default 30 s). */
  requestTimeoutMs?: number;
  /** How long connecting plus hello may take before the attempt is abandoned (default 15 s). */
  helloTimeoutMs?: number;
  /** Requests allowed to wait for an answer at once (default 1000). */
  maxPendingRequests?: number;
  /** How long `close()` waits for the running handler and pending requests (default 10 s). */
  drainTimeoutMs?: number;
  /**
   * How long a handled event's `delivery_ack` may wait to be sent with those of the events after it (default 5 s; 0
   * sends one for each run of events at once). It also goes after 32 events, on `delivery.ack()` and on `close()`,
   * and a reconnect resumes after it. Only a crash of a process whose store does not survive it (the memory store)
   * sees the events of those last seconds again.
   */
  ackDelayMs?: number;
  /** Optional relay events to ask for (default `['send_failed']`). */
  features?: readonly string[];
  /** Time source (tests pass a fake one). */
  clock?: Clock;
}

/** Listener signatures, by event name. */
export type RelayGatewayEvents = {
  /** A customer's message. Acknowledged when every listener has finished; a listener that throws gets it again. */
  inbound: (message: InboundMessage, delivery: Delivery) => void | Promise<void>;
  /** A WeCom user was bound to this gateway (also replayed once per binding after each connect). */
  binding_resolved: (event: BindingResolved, delivery: Delivery) => void | Promise<void>;
  /** WeCom did not deliver a reply it had accepted. */
  send_failed: (event: SendFailed, delivery: Delivery) => void | Promise<void>;
  /** `session_events`: a human servicer wrote to the customer. */
  servicer_message: (event: ServicerMessage, delivery: Delivery) => void | Promise<void>;
  /** `session_events`: the customer opened the conversation (a `welcomeCode` when a welcome may be sent). */
  session_entered: (event: SessionEntered, delivery: Delivery) => void | Promise<void>;
  /** `session_events`: a servicer took, transferred, ended or re-entered the session. */
  session_status: (event: SessionStatus, delivery: Delivery) => void | Promise<void>;
  /** `session_events`: a message was recalled. */
  message_recalled: (event: MessageRecalled, delivery: Delivery) => void | Promise<void>;
  /** `session_events`: a servicer rejected the customer's messages (`rejected`), or accepted them again. */
  customer_rejected: (event: CustomerRejected, delivery: Delivery) => void | Promise<void>;
  /** The gateway has no binding (cs dialect). */
  binding_cleared: (event: BindingCleared) => void;
  /** An error frame that answers none of this gateway's requests. */
  error: (error: RelayErrorFrame) => void;
  /** Connection state changes. */
  state: (change: StateChange) => void;
  /** A handler failed (or the store could not record); `redelivered` says whether the event will come again. */
  handler_error: (err: unknown, event: DeliveredEvent, redelivered: boolean) => void;
  /** The gateway stopped for good (closed, or the relay refused it). */
  stopped: (reason: StopReason) => void;
};
