/**
 * `pnpm demo`: a fake WeCom, one relay node and a sample gateway, end to end on this machine.
 * Binds a WeCom user by QR scan, sends a customer text and an image, and prints every hop:
 * WeCom callback → inbound frame on the gateway → gateway reply → what WeCom received.
 * Flags: --stay keeps everything running (Ctrl-C stops it); --verbose mirrors the processes' logs.
 */
// The workspace root does not link the packages by name, so the demo reaches them by path.
import { GatewayClient, type WireFrame } from '../packages/gateway-client/src/index.js';
import { gatewayAuthToken } from '../packages/shared/src/index.js';
import { SAMPLE_PNG } from '../packages/fake-wecom/src/index.js';
import {
  relayEnvFor,
  reserveRelayPorts,
  spawnFakeWecom,
  spawnRelayNode,
  testCorp,
  type FakeWecomHandle,
  type RelayNodeHandle,
} from '../packages/testkit/src/process/index.js';

const args = new Set(process.argv.slice(2));
const stay = args.has('--stay');
const verbose = args.has('--verbose');

const GATEWAY_ID = 'demo-gateway';
const CUSTOMER = 'wmDemoCustomer0001';

function say(step: string, detail = ''): void {
  process.stdout.write(`\n▶ ${step}${detail ? `\n  ${detail.split('\n').join('\n  ')}` : ''}\n`);
}

/** A frame as JSON with long base64 payloads shortened, so a hop fits on screen. */
function show(value: unknown): string {
  return JSON.stringify(value, (key, v: unknown) =>
    typeof v === 'string' && v.length > 80 && (key.endsWith('_data') || key.endsWith('base64'))
      ? `${v.slice(0, 24)}… (${v.length} base64 chars)`
      : v,
  );
}

let fake: FakeWecomHandle | undefined;
let relay: RelayNodeHandle | undefined;
let gateway: GatewayClient | undefined;

async function shutdown(): Promise<void> {
  await gateway?.close().catch(() => undefined);
  await Promise.all([relay?.stop(), fake?.stop()]);
}

async function run(): Promise<void> {
  const corp = testCorp({ corpId: 'wwdemo0000000001', openKfid: 'wkDEMO000000000001' });
  const mirror = verbose ? (name: string) => (line: string) => process.stdout.write(`  [${name}] ${line}\n`) : undefined;

  const ports = await reserveRelayPorts();
  fake = await spawnFakeWecom({ corp, callbackUrls: [ports.webhookUrl], ...(mirror ? { onLine: mirror('fake-wecom') } : {}) });
  say('Fake WeCom is up', `API base ${fake.url}; it will POST callbacks to ${ports.webhookUrl}`);

  relay = await spawnRelayNode(
    relayEnvFor(corp, fake.url, { PORT: String(ports.port), WS_PORT: String(ports.wsPort), LOCALE: 'en' }),
    mirror ? { onLine: mirror('relay-node') } : {},
  );
  say('Relay node is ready', `webhook ${relay.webhookUrl}\ngateways connect to ${relay.wsUrl}`);

  gateway = new GatewayClient({
    url: relay.wsUrl,
    gatewayId: GATEWAY_ID,
    authToken: gatewayAuthToken(corp.relaySecret, GATEWAY_ID),
    dialect: 'plain',
  });
  await gateway.connect();
  say(`Gateway "${GATEWAY_ID}" connected`, `relay answered ${show(gateway.received[0])}`);

  // Binding by scan.
  const offer = await gateway.createBinding();
  say('Gateway asked for a binding QR link', `create_binding_ack ${show(offer.frame)}`);
  const scan = await fake.control.scan({ external_userid: CUSTOMER, url: offer.customerServiceUrl });
  say(`WeCom user ${CUSTOMER} scanned it`, `callback to the relay answered ${scan.callbacks.map((c) => c.status).join(', ')}`);
  const resolved = await gateway.waitFor((f) => f.type === 'binding_resolved' && f.external_user_id === CUSTOMER);
  say('Gateway learned the binding', show(resolved));
  const confirmation = await waitForSent((m) => m.msgtype === 'text');
  say('WeCom delivered the confirmation to the user', `"${confirmation.content}" (via ${confirmation.via})`);

  // A text round trip.
  const text = await fake.control.customerMessage({ external_userid: CUSTOMER, msgtype: 'text', content: '你好! Is anyone there?' });
  say('Customer sent a text; WeCom called the relay back', `msgid ${text.msgid}; callback answered ${text.callbacks.map((c) => c.status).join(', ')}`);
  const inboundText = await gateway.waitFor((f) => f.type === 'inbound' && f.id === text.msgid);
  say('Gateway received', show(inboundText));
  const textAck = await gateway.reply(CUSTOMER, 'Hello from the demo gateway 👋');
  say('Gateway replied; relay acknowledged', show(textAck));
  const sentText = await waitForSent((m) => m.msgid === textAck.msgid);
  say('WeCom received (kf/send_msg)', show({ touser: sentText.touser, msgtype: sentText.msgtype, content: sentText.content }));

  // An image round trip.
  const image = await fake.control.customerMessage({
    external_userid: CUSTOMER,
    msgtype: 'image',
    media_base64: SAMPLE_PNG.toString('base64'),
    media_mime: 'image/png',
  });
  say('Customer sent an image', `msgid ${image.msgid} (${SAMPLE_PNG.length} bytes of PNG)`);
  const inboundImage = await gateway.waitFor((f) => f.type === 'inbound' && f.id === image.msgid);
  say('Gateway received the image inlined', show(inboundImage));
  const imageAck = await gateway.imageReply(CUSTOMER, SAMPLE_PNG, 'image/png');
  say('Gateway sent an image back; relay acknowledged', show(imageAck));
  const sentImage = await waitForSent((m) => m.msgid === imageAck.msgid);
  say('WeCom received (media/upload + kf/send_msg)', show({ touser: sentImage.touser, msgtype: sentImage.msgtype, media_mime: sentImage.media_mime, media_base64: sentImage.media_base64 }));
}

type SentMessage = Awaited<ReturnType<FakeWecomHandle['control']['sent']>>[number];

/** Polls what WeCom received for the demo customer until a message matches. */
async function waitForSent(match: (m: SentMessage) => boolean): Promise<SentMessage> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (!fake) throw new Error('the fake WeCom is not running');
    const found = (await fake.control.sent({ touser: CUSTOMER })).find(match);
    if (found) return found;
    if (Date.now() > deadline) throw new Error('WeCom did not receive the expected message within 15 s');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void shutdown().then(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  });
}

try {
  await run();
  if (stay) {
    const frames: WireFrame[] = gateway?.received ?? [];
    say(
      'Everything keeps running (Ctrl-C to stop)',
      `fake WeCom control: ${fake?.url}/control/ (e.g. POST customer-message {"external_userid":"${CUSTOMER}","msgtype":"text","content":"hi"})\n` +
        `relay: ${relay?.httpUrl}/healthz, ${relay?.metricsUrl}\n` +
        `the demo gateway prints what it receives from now on`,
    );
    let shown = frames.length;
    setInterval(() => {
      for (; shown < frames.length; shown += 1) say('Gateway received', show(frames[shown]));
    }, 250);
  } else {
    say('Demo complete');
    await shutdown();
    process.exit(0);
  }
} catch (err) {
  process.stderr.write(`\n✖ demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  if (relay) process.stderr.write(`--- relay-node last output ---\n${relay.tail(40)}\n`);
  if (fake) process.stderr.write(`--- fake-wecom last output ---\n${fake.process.tail(20)}\n`);
  await shutdown();
  process.exit(1);
}
