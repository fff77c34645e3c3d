/**
 * `pnpm demo`: a fake WeCom, one relay node and a sample gateway (built on the gateway SDK), end to end on this
 * machine. Binds a WeCom user by QR scan, sends a customer text and an image, and prints every hop:
 * WeCom callback → the event the gateway's handler gets → its reply → what WeCom received.
 * Flags: --stay keeps everything running (Ctrl-C stops it); --verbose mirrors the processes' logs.
 */
// The workspace root does not link the packages by name, so the demo reaches them by path.
import WebSocket from 'ws';
import { RelayGateway, type InboundMessage, type ReplyResult } from '../packages/gateway-sdk/src/index.js';
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
const WAIT_MS = 15_000;

function say(step: string, detail = ''): void {
  process.stdout.write(`\n▶ ${step}${detail ? `\n  ${detail.split('\n').join('\n  ')}` : ''}\n`);
}

/** An event as JSON with long base64 payloads shortened, so a hop fits on screen. */
function show(value: unknown): string {
  return JSON.stringify(value, (key, v: unknown) =>
    typeof v === 'string' && v.length > 80 && (key.endsWith('_data') || key.endsWith('Data') || key.endsWith('base64'))
      ? `${v.slice(0, 24)}… (${v.length} base64 chars)`
      : v,
  );
}

/** Resolves when `settle` is called for `key`, or rejects after {@link WAIT_MS}, naming what never came. */
class Arrivals<T> {
  private readonly waiting = new Map<string, { resolve: (value: T) => void; promise: Promise<T> }>();

  private entry(key: string) {
    let found = this.waiting.get(key);
    if (!found) {
      let resolve!: (value: T) => void;
      const promise = new Promise<T>((res) => {
        resolve = res;
      });
      found = { resolve, promise };
      this.waiting.set(key, found);
    }
    return found;
  }

  settle(key: string, value: T): void {
    this.entry(key).resolve(value);
  }

  wait(key: string, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not happen within ${WAIT_MS / 1000} s`)), WAIT_MS);
    });
    return Promise.race([this.entry(key).promise, timeout]).finally(() => clearTimeout(timer));
  }
}

let fake: FakeWecomHandle | undefined;
let relay: RelayNodeHandle | undefined;
let gateway: RelayGateway | undefined;

async function shutdown(): Promise<void> {
  await gateway?.close().catch(() => undefined);
  await Promise.all([relay?.stop(), fake?.stop()]);
}

/**
 * The sample gateway, built on the gateway SDK: it prints every event the SDK hands it and answers each customer
 * message (a text with a greeting, an image with the same image), as a gateway app would.
 */
function sampleGateway(url: string, authToken: string): { gateway: RelayGateway; bound: Arrivals<void>; replied: Arrivals<ReplyResult> } {
  const bound = new Arrivals<void>();
  const replied = new Arrivals<ReplyResult>();
  const g = new RelayGateway({ url, gatewayId: GATEWAY_ID, authToken, dialect: 'plain', WebSocket });
  g.on('binding_resolved', (event) => {
    say('Gateway learned the binding (binding_resolved)', show(event));
    bound.settle(event.externalUserId, undefined);
  });
  g.on('inbound', async (message: InboundMessage, delivery) => {
    say(message.msgType === 'image' ? 'Gateway received the image inlined (inbound)' : 'Gateway received (inbound)', show(message));
    const result =
      message.msgType === 'image' && message.mediaData
        ? await delivery.imageReply(SAMPLE_PNG, 'image/png')
        : await delivery.reply(message.msgType === 'text' ? 'Hello from the demo gateway 👋' : 'Thanks, got it.');
    say(`Gateway ${message.msgType === 'image' ? 'sent an image back' : 'replied'}; relay acknowledged`, show(result));
    replied.settle(message.id, result);
  });
  g.on('state', (change) => {
    if (change.state === 'reconnecting' || change.state === 'closed') say(`Gateway connection ${change.state}`, change.code === undefined ? '' : `${change.code} ${change.reason ?? ''}`);
  });
  g.on('error', (error) => say('Relay reported an error', show(error)));
  g.on('handler_error', (err) => say('Gateway handler failed (the message will come again)', String(err)));
  return { gateway: g, bound, replied };
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

  const sample = sampleGateway(relay.wsUrl, gatewayAuthToken(corp.relaySecret, GATEWAY_ID));
  gateway = sample.gateway;
  await gateway.start();
  say(`Gateway "${GATEWAY_ID}" connected (SDK @wecom-relay/gateway)`, `relay accepted its hello; state ${gateway.state}`);

  // Binding by scan.
  const offer = await gateway.createBinding();
  say('Gateway asked for a binding QR link', show(offer));
  const scan = await fake.control.scan({ external_userid: CUSTOMER, url: offer.customerServiceUrl });
  say(`WeCom user ${CUSTOMER} scanned it`, `callback to the relay answered ${scan.callbacks.map((c) => c.status).join(', ')}`);
  await sample.bound.wait(CUSTOMER, 'the gateway hearing of the binding');
  const confirmation = await waitForSent((m) => m.msgtype === 'text');
  say('WeCom delivered the confirmation to the user', `"${confirmation.content}" (via ${confirmation.via})`);

  // A text round trip.
  const text = await fake.control.customerMessage({ external_userid: CUSTOMER, msgtype: 'text', content: '你好! Is anyone there?' });
  say('Customer sent a text; WeCom called the relay back', `msgid ${text.msgid}; callback answered ${text.callbacks.map((c) => c.status).join(', ')}`);
  const textReply = await sample.replied.wait(text.msgid, `the gateway receiving and answering text ${text.msgid}`);
  const sentText = await waitForSent((m) => m.msgid === textReply.msgid);
  say('WeCom received (kf/send_msg)', show({ touser: sentText.touser, msgtype: sentText.msgtype, content: sentText.content }));

  // An image round trip.
  const image = await fake.control.customerMessage({
    external_userid: CUSTOMER,
    msgtype: 'image',
    media_base64: SAMPLE_PNG.toString('base64'),
    media_mime: 'image/png',
  });
  say('Customer sent an image', `msgid ${image.msgid} (${SAMPLE_PNG.length} bytes of PNG)`);
  const imageReply = await sample.replied.wait(image.msgid, `the gateway receiving and answering image ${image.msgid}`);
  const sentImage = await waitForSent((m) => m.msgid === imageReply.msgid);
  say('WeCom received (media/upload + kf/send_msg)', show({ touser: sentImage.touser, msgtype: sentImage.msgtype, media_mime: sentImage.media_mime, media_base64: sentImage.media_base64 }));
}

type SentMessage = Awaited<ReturnType<FakeWecomHandle['control']['sent']>>[number];

/** Polls what WeCom received for the demo customer until a message matches. */
async function waitForSent(match: (m: SentMessage) => boolean): Promise<SentMessage> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    if (!fake) throw new Error('the fake WeCom is not running');
    const found = (await fake.control.sent({ touser: CUSTOMER })).find(match);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`WeCom did not receive the expected message within ${WAIT_MS / 1000} s`);
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
    say(
      'Everything keeps running (Ctrl-C to stop)',
      `fake WeCom control: ${fake?.url}/control/ (e.g. POST customer-message {"external_userid":"${CUSTOMER}","msgtype":"text","content":"hi"})\n` +
        `relay: ${relay?.httpUrl}/healthz, ${relay?.metricsUrl}\n` +
        `the demo gateway prints what it receives and answers it from now on`,
    );
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
