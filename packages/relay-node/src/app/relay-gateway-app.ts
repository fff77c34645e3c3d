import type { Logger } from 'pino';
import type { HelloCommand } from '@wecom-relay/shared';
import type { GatewayApp, GatewaySession, SessionCommand } from '../gateway/gateway-types.js';
import type { BindingStore } from '../state/binding-store.js';
import type { BindingService } from '../binding/binding-service.js';
import type { ReplyService } from '../outbound/reply-service.js';
import type { DeliveryService } from '../delivery/delivery-service.js';

/** Options for {@link RelayGatewayApp}. */
export interface RelayGatewayAppOptions {
  authenticate: (hello: HelloCommand) => Promise<void>;
  bindings: BindingStore;
  binding: BindingService;
  replies: ReplyService;
  delivery: DeliveryService;
  logger: Logger;
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
      for (const externalUserId of users) {
        await session.send({ type: 'binding_resolved', externalUserId, gatewayId: session.gatewayId });
      }
      if (users.length === 0 && session.dialect === 'cs') {
        await session.send({ type: 'binding_cleared', gatewayId: session.gatewayId });
      }
      return users;
    });
  }

  async onCommand(session: GatewaySession, command: SessionCommand): Promise<void> {
    const gatewayId = session.gatewayId;
    switch (command.type) {
      case 'reply': {
        const msgid = await this.o.replies.reply(gatewayId, command);
        await session.send({ type: 'ack', id: command.id, msgid });
        return;
      }
      case 'image_reply': {
        const msgid = await this.o.replies.imageReply(gatewayId, command);
        await session.send({ type: 'ack', id: command.id, msgid });
        return;
      }
      case 'create_binding': {
        const long = session.features.includes('long_binding_token');
        const { token, customerServiceUrl } = await this.o.binding.createBinding(gatewayId, { long });
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
    }
  }

  async onSessionClose(session: GatewaySession, info: { code: number; reason: string }): Promise<void> {
    this.o.logger.info({ gatewayId: session.gatewayId, code: info.code }, 'gateway disconnected');
    await this.o.delivery.detach(session);
  }
}
