export { GatewayClient } from './gateway-client.js';
export type { GatewayClientOptions, CloseInfo, BindingOffer } from './gateway-client.js';
export { GatewayClientError } from './gateway-client-error.js';
export type { GatewayClientErrorCode } from './gateway-client-error.js';
export { normalizeInbound, resolvedUser, baseType, frameType, CS_PLATFORM } from './wire-frames.js';
export type { WireDialect, WireDelivery, WireFrame, InboundMessage } from './wire-frames.js';
export { sendFrame, sendOnEventFrame, recallFrame, serviceStateFrame, fetchMediaLink } from './rich-frames.js';
export type {
  SendBodies,
  SendMsgType,
  OnEventMsgType,
  MediaBody,
  MenuBody,
  MenuItem,
  ServiceStateMove,
  FetchedMedia,
  MediaRefusal,
} from './rich-frames.js';
export { isCustomerRejected, normalizeCustomerRejected } from './session-frames.js';
export type { CustomerRejected } from './session-frames.js';
