export { RelayGateway } from './relay-gateway.js';
export type { RelayGatewayOptions, RelayGatewayEvents } from './relay-gateway.js';
export type { Delivery } from './event-processor.js';
export { DEFAULT_ACK_DELAY_MS } from './event-processor.js';
export type {
  InboundMessage,
  InboundMsgType,
  BindingResolved,
  BindingCleared,
  SendFailed,
  ServicerMessage,
  SessionEntered,
  SessionStatus,
  MessageRecalled,
  CustomerRejected,
  RelayErrorFrame,
  DeliveredEvent,
  ConnectionState,
  StateChange,
} from './events.js';
export { GatewayError, STOP_CODES } from './gateway-error.js';
export type { SdkErrorCode, StopKind, StopReason } from './gateway-error.js';
export type { ReplyResult, BindingOffer } from './pending-requests.js';
export type { ReplyPart, Dialect } from './wire.js';
export { MemoryDeliveryStore, KeyWindow, dedupKeys, DEFAULT_DEDUP_WINDOW } from './delivery-store.js';
export type { DeliveryStore } from './delivery-store.js';
export type { BackoffOptions } from './backoff.js';
export { backoffDelay, resolveBackoff } from './backoff.js';
export type { Clock, TimerHandle } from './clock.js';
export { systemClock } from './clock.js';
export type { WebSocketLike, WebSocketConstructor } from './websocket-like.js';
export { gatewayAuthToken } from './auth-token.js';
export type {
  SendBodies,
  SendMsgType,
  OnEventMsgType,
  MediaBody,
  MenuItem,
  ServiceStateMove,
  ServiceStateResult,
  FetchedMedia,
} from './rich-commands.js';
