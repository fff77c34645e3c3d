/**
 * A gateway application in its own process, built on the SDK with the file store: for tests that SIGKILL it
 * mid-message and start it again. Its application log is a file: one JSON line per customer message handled.
 * Environment: RELAY_URL, GATEWAY_ID, GATEWAY_TOKEN, STORE_DIR, APP_LOG, and HOLD_TEXT: a message whose content
 * contains it makes the handler print `handling <msgid>` and then never finish (the test kills the process there).
 */
import { appendFileSync } from 'node:fs';
import WebSocket from 'ws';
import { RelayGateway } from '../../../packages/gateway-sdk/src/index.js';
import { FileDeliveryStore } from '../../../packages/gateway-sdk/src/node-file-store.js';

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
}

const appLog = env('APP_LOG');
const holdText = process.env.HOLD_TEXT ?? '';
const gateway = new RelayGateway({
  url: env('RELAY_URL'),
  gatewayId: env('GATEWAY_ID'),
  authToken: env('GATEWAY_TOKEN'),
  store: new FileDeliveryStore({ directory: env('STORE_DIR') }),
  WebSocket,
  reconnect: { initialDelayMs: 100, maxDelayMs: 2_000 },
});

gateway.on('inbound', async (message) => {
  console.log(`handling ${message.id}`);
  if (holdText !== '' && message.content.includes(holdText)) await new Promise(() => undefined);
  appendFileSync(appLog, `${JSON.stringify({ msgid: message.id, user: message.externalUserId, content: message.content })}\n`);
});
gateway.on('state', (change) => console.log(`state ${change.state}${change.code ? ` ${change.code}` : ''}`));
gateway.start().then(
  () => console.log('gateway open'),
  (err: unknown) => {
    console.log(`gateway stopped: ${String(err)}`);
    process.exit(1);
  },
);
