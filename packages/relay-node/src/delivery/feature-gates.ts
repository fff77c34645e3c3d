import {
  richInbound,
  type GatewayEvent,
  type GatewayFeature,
  type InboundEvent,
  type QueuedEvent,
  type ServicerMessageEvent,
} from '@wecom-relay/shared';
import type { CustomerProfileCache } from './customer-profiles.js';

/** The hello feature without which a gateway never sees this event (null: every gateway sees it). */
export function featureRequiredFor(event: QueuedEvent): GatewayFeature | null {
  switch (event.type) {
    case 'send_failed':
      return 'send_failed';
    case 'servicer_message':
    case 'session_entered':
    case 'session_status':
    case 'message_recalled':
    case 'customer_rejected':
      return 'session_events';
    default:
      return null;
  }
}

type QueuedMessage = Extract<QueuedEvent, { type: 'inbound' | 'servicer_message' }>;

/** A message frame before its media is fetched. */
export type ShapedMessage = { frame: InboundEvent | ServicerMessageEvent; mediaId?: string };

/**
 * A queued message as this gateway's frame, before media: old gateways get exactly the deployed fields (the kinds
 * it does not name stay `unknown`); `rich_inbound` gateways get the kind by name and its fields. Servicer messages
 * are always typed, as only gateways that asked for them receive them.
 */
export function shapeMessage(event: QueuedMessage, features: readonly GatewayFeature[]): ShapedMessage {
  const { wecomPayload, mediaId, ...rest } = event;
  const media = mediaId ? { mediaId } : {};
  if (rest.type === 'inbound' && !features.includes('rich_inbound')) return { frame: rest, ...media };
  const { msgType, detail } = richInbound(rest.wecomMsgType, wecomPayload);
  return { frame: { ...rest, msgType, detail }, ...media };
}

/** A frame that can carry the customer's profile. */
type ProfiledFrame = Extract<GatewayEvent, { type: 'inbound' | 'binding_resolved' }>;

/** Whether a frame of this kind gets the customer's profile: the gateway asked for `customer_profile` and profiles are kept. */
export function wantsProfile<F extends GatewayEvent>(
  frame: F,
  features: readonly GatewayFeature[],
  profiles: CustomerProfileCache | undefined,
): frame is F & ProfiledFrame {
  return profiles !== undefined && (frame.type === 'inbound' || frame.type === 'binding_resolved') && features.includes('customer_profile');
}

/** The frame with the customer's profile when the gateway asked for `customer_profile` and one is known. */
export async function withProfile<F extends GatewayEvent>(
  frame: F,
  features: readonly GatewayFeature[],
  profiles: CustomerProfileCache | undefined,
): Promise<F> {
  if (!profiles || !wantsProfile(frame, features, profiles)) return frame;
  const customer = await profiles.get(frame.externalUserId);
  return customer ? { ...frame, customer } : frame;
}
