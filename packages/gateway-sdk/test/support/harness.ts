import { RelayGateway, type RelayGatewayOptions, type StateChange } from '../../src/index.js';
import { FakeClock, flush } from './fake-clock.js';
import { FakeWebSocket } from './fake-websocket.js';

/** A gateway on a fake socket and a fake clock, with its state changes recorded. */
export interface Rig {
  gateway: RelayGateway;
  clock: FakeClock;
  states: StateChange[];
  /** The socket the gateway opened last. */
  socket(): FakeWebSocket;
}

/** Builds a gateway whose sockets are FakeWebSockets; starts it unless `start: false`. */
export function rig(overrides: Partial<RelayGatewayOptions> = {}): Rig {
  FakeWebSocket.reset();
  const clock = new FakeClock();
  const gateway = new RelayGateway({
    url: 'ws://relay.test/',
    gatewayId: 'gw-1',
    authToken: 'token-1',
    WebSocket: FakeWebSocket,
    clock,
    ...overrides,
  });
  const states: StateChange[] = [];
  gateway.on('state', (s) => {
    states.push(s);
  });
  return { gateway, clock, states, socket: () => FakeWebSocket.last };
}

/** An inbound frame as the relay writes it in ack mode. */
export function inbound(msgid: string, deliveryId: string, user = 'wm-user-1', content = `text ${msgid}`): Record<string, unknown> {
  return {
    type: 'inbound',
    id: msgid,
    external_user_id: user,
    msg_type: 'text',
    content,
    timestamp: 1_700_000_000,
    wecom_msg_type: 'text',
    delivery_id: deliveryId,
  };
}

/** The delivery ids the SDK acknowledged on a socket, in order. */
export function acks(socket: FakeWebSocket): string[] {
  return socket.frames().filter((f) => f.type === 'delivery_ack').map((f) => String(f.delivery_id));
}

export { flush };
