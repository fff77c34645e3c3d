import type { Logger } from 'pino';
import type {
  AckEvent,
  GatewayFeature,
  HelloCommand,
  RecallCommand,
  SendOnEventCommand,
  SendCommand,
  ServiceStateCommand,
} from '@wecom-relay/shared';
import { RelayError } from '../errors/relay-error.js';
import type { RichSendService } from '../outbound/rich-send.js';
import type { CustomerProfileCache } from '../delivery/customer-profiles.js';
import { withProfile } from '../delivery/feature-gates.js';
import type { GatewayApp, GatewaySession, SessionCommand } from '../gateway/gateway-types.js';
import type { BindingStore } from '../state/binding-store.js';
import type { BindingService } from '../binding/binding-service.js';
import type { ReplyOutcome, ReplyService } from '../outbound/reply-service.js';
import { gatewaySafeError } from '../errors/gateway-safe-error.js';
import { takeoverAware, takeoverAwareUnsent } from './session-takeover.js';
import type { DeliveryService } from '../delivery/delivery-service.js';

/** Options for {@link RelayGatewayApp}. */
export interface RelayGatewayAppOptions {
  authenticate: (hello: HelloCommand) => Promise<void>;
  bindings: BindingStore;
  binding: BindingService;
  replies: ReplyService;
  delivery: DeliveryService;
  logger: Logger;
  /** The `rich_outbound` commands (send, recall, service_state); without it they are unknown frames. */
  richSend?: RichSendService;
  /** Profiles for `customer_profile` gateways (on the binding_resolved frames of the hello replay too). */
  profiles?: CustomerProfileCache;
}

/** What a relay node does with each gateway's socket: the protocol's commands mapped onto the node's services. */
export class RelayGatewayApp implements GatewayApp {
  constructor(private readonly o: RelayGatewayAppOptions) {}

  authenticate(hello: HelloCommand): Promise<void> {
    return this.o.authenticate(hello);
  }

  /** Claims the gateway, tells it its bindings (how a reconnecting gateway learns them), then drains its queue. */
  async onSessionOpen(session: GatewaySession): Promise<void> {
    this.o.logger.info({ gatewayId: session.gatewayId, dialect: session.dialect, delivery: session.delivery }, 'gateway connected');
    await this.o.delivery.attach(session, async () => {
      const users = await this.o.bindings.usersOf(session.gatewayId);
      // Looked up together, so a gateway with many customers costs one WeCom call per 100 of them.
      if (featuresOf(session).includes('customer_profile')) await Promise.all(users.map((u) => this.o.profiles?.get(u)));
      for (const externalUserId of users) {
        const frame = { type: 'binding_resolved', externalUserId, gatewayId: session.gatewayId } as const;
        await session.send(await withProfile(frame, featuresOf(session), this.o.profiles));
      }
      if (users.length === 0 && session.dialect === 'cs') {
        await session.send({ type: 'binding_cleared', gatewayId: session.gatewayId });
      }
      return users;
    });
  }

  async onCommand(session: GatewaySession, command: SessionCommand): Promise<void> {
    try {
      await this.handle(session, command);
    } catch (err) {
      // Every error frame is built from what is thrown here: WeCom's own words never reach a gateway.
      throw takeoverAware(featuresOf(session), gatewaySafeError(err));
    }
  }

  private async handle(session: GatewaySession, command: SessionCommand): Promise<void> {
    const gatewayId = session.gatewayId;
    switch (command.type) {
      case 'reply': {
        const outcome = await this.o.replies.reply(gatewayId, command);
        await session.send(replyAck(command.id, outcome, featuresOf(session)));
        return;
      }
      case 'image_reply': {
        const msgid = await this.o.replies.imageReply(gatewayId, command);
        await session.send({ type: 'ack', id: command.id, msgid });
        return;
      }
      case 'create_binding': {
        const long = session.features.includes('long_binding_token');
        const { token, customerServiceUrl } = await this.o.binding.createBinding(gatewayId, { long, openKfid: command.openKfid });
        await session.send({ type: 'create_binding_ack', token, customerServiceUrl });
        return;
      }
      case 'unbind_all': {
        await this.o.binding.unbindAll(gatewayId);
        await session.send({ type: 'ack', id: 'unbind_all' });
        return;
      }
      case 'delivery_ack':
        await this.o.delivery.acknowledge(session, command.deliveryId);
        return;
      case 'send':
      case 'send_on_event':
      case 'recall':
      case 'service_state':
        await session.send(await this.richOutbound(session, command));
        return;
    }
  }

  private async richOutbound(
    session: GatewaySession,
    command: SendCommand | SendOnEventCommand | RecallCommand | ServiceStateCommand,
  ): Promise<AckEvent> {
    const richSend = this.o.richSend;
    if (!richSend || !featuresOf(session).includes('rich_outbound')) {
      // Exactly what a gateway that did not ask got before these commands existed.
      const type = session.dialect === 'cs' ? `cs_${command.type}` : command.type;
      throw new RelayError('FRAME_UNKNOWN_TYPE', `unknown frame type ${JSON.stringify(type)}`, { id: command.id });
    }
    const gatewayId = session.gatewayId;
    switch (command.type) {
      case 'send':
        return { type: 'ack', id: command.id, msgid: await richSend.send(gatewayId, command) };
      case 'send_on_event':
        return { type: 'ack', id: command.id, msgid: await richSend.sendOnEvent(gatewayId, command) };
      case 'recall':
        await richSend.recall(gatewayId, command);
        return { type: 'ack', id: command.id };
      case 'service_state':
        return richSend.serviceState(gatewayId, command);
    }
  }

  async onSessionClose(session: GatewaySession, info: { code: number; reason: string }): Promise<void> {
    this.o.logger.info({ gatewayId: session.gatewayId, code: info.code }, 'gateway disconnected');
    await this.o.delivery.detach(session);
  }
}

/** The ack of a text reply: WeCom's msgid (of the first part), how many parts went, and what did not go, if any. */
function replyAck(id: string, outcome: ReplyOutcome, features: readonly GatewayFeature[]): AckEvent {
  const ack: AckEvent = { type: 'ack', id, msgid: outcome.msgids[0] ?? '', parts: outcome.msgids.length };
  if (outcome.msgids.length > 1) ack.msgids = [...outcome.msgids];
  if (outcome.unsent) {
    ack.partsTotal = outcome.partsTotal;
    ack.unsent = takeoverAwareUnsent(features, { ...outcome.unsent });
  }
  return ack;
}

/** The session's hello features; sessions built without any (older test doubles, embedders) have none. */
function featuresOf(session: GatewaySession): readonly GatewayFeature[] {
  return (session as { features?: readonly GatewayFeature[] }).features ?? [];
}
