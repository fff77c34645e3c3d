/**
 * A gateway app on @wecom-relay/gateway: prints every customer message and answers it with an echo.
 *
 *   RELAY_URL=ws://127.0.0.1:8081 GATEWAY_ID=my-gateway GATEWAY_TOKEN=$(pnpm -s relay token my-gateway) \
 *     pnpm --filter @wecom-relay/example-cli-gateway start [--bind]
 *
 * --bind prints a binding link (show it as a QR code; the WeCom user who scans it is bound to this gateway).
 * STATE_DIR (default ./cli-gateway-state) keeps what was handled, so a restart never handles a message twice.
 */
import { RelayGateway } from '@wecom-relay/gateway';
import { FileDeliveryStore } from '@wecom-relay/gateway/node-file-store';
import WebSocket from 'ws';

function required(name: string): string {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} is required (see the comment at the top of main.ts)`);
    process.exit(2);
  }
  return value;
}

const gateway = new RelayGateway({
  url: required('RELAY_URL'),
  gatewayId: required('GATEWAY_ID'),
  authToken: required('GATEWAY_TOKEN'),
  store: new FileDeliveryStore({ directory: process.env.STATE_DIR ?? './cli-gateway-state' }),
  // Node ≥ 22 and browsers have a global WebSocket; Node 20 needs the ws package.
  WebSocket,
});

gateway.on('state', ({ state, code, reason, delayMs }) => {
  const why = code === undefined ? '' : ` (${code}${reason ? ` ${reason}` : ''})`;
  console.log(`[state] ${state}${why}${delayMs === undefined ? '' : `, retrying in ${delayMs} ms`}`);
});
gateway.on('binding_resolved', ({ externalUserId }) => console.log(`[bound] ${externalUserId}`));
gateway.on('inbound', async (message, delivery) => {
  const text = message.msgType === 'text' ? message.content : `[${message.wecomMsgType ?? message.msgType}]`;
  console.log(`[message] ${message.externalUserId}: ${text}`);
  // The request id is derived from the message, so a redelivered message's echo is recognised as the same reply.
  const { msgid } = await delivery.reply(`echo: ${text}`);
  console.log(`[replied] ${message.externalUserId} (WeCom msgid ${msgid ?? '?'})`);
});
gateway.on('send_failed', (event) => console.log(`[send failed] ${event.externalUserId}: ${event.reason}`));
gateway.on('handler_error', (err) => console.log(`[handler failed, will be redelivered] ${String(err)}`));
gateway.on('stopped', ({ kind, code }) => {
  console.log(`[stopped] ${kind} (${code})`);
  if (kind !== 'closed') process.exitCode = 1;
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.log('[closing] finishing the message in hand');
    void gateway.close();
  });
}

await gateway.start();
if (process.argv.includes('--bind')) {
  const offer = await gateway.createBinding();
  console.log(`[binding link] ${offer.customerServiceUrl}`);
}
