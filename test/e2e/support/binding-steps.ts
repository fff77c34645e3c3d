import { baseType, resolvedUser, type BindingOffer, type GatewayClient, type WireFrame } from '@wecom-relay/gateway-client';
import type { RelayStack } from './relay-stack.js';

/** Whether a frame is a binding_resolved (either dialect) for `user`. */
export function isBindingResolvedFor(user: string): (frame: WireFrame) => boolean {
  return (frame) => baseType(frame.type) === 'binding_resolved' && resolvedUser(frame) === user;
}

/** The whole scan flow: create_binding, the WeCom user scans the link, the gateway hears binding_resolved. */
export async function bindByScan(stack: RelayStack, gateway: GatewayClient, user: string): Promise<BindingOffer> {
  const offer = await gateway.createBinding();
  await stack.fake.control.scan({ external_userid: user, url: offer.customerServiceUrl });
  await gateway.waitFor(isBindingResolvedFor(user));
  return offer;
}
