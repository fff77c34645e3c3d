import { connect } from 'node:net';
import type { FakeWecomControlClient } from '@wecom-relay/testkit';
import { percentEncode, randomQuery, randomSignedPlaintext, randomText, randomWebhookBody } from './fuzz-inputs.js';
import type { SeededRandom } from './seeded-random.js';

/** A node's HTTP side, as the webhook fuzzer targets it. */
export interface WebhookTarget {
  httpUrl: string;
  webhookUrl: string;
}

/** What one fuzzed request got back; status null when no HTTP answer came. */
export interface WebhookFuzzOutcome {
  kind: string;
  status: number | null;
  /** A well-formed HTTP request: it must get an HTTP answer, and not a 5xx. Raw TCP garbage need not. */
  wellFormed: boolean;
}

/** Writes bytes straight to the HTTP port and reads the status line, if the server sends one. */
function rawTcp(url: string, payload: Buffer): Promise<number | null> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    let answer = '';
    const done = (): void => {
      clearTimeout(timer);
      socket.destroy();
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(answer)?.[1];
      resolve(status === undefined ? null : Number(status));
    };
    const timer = setTimeout(done, 3_000);
    socket.on('error', done);
    socket.on('close', done);
    socket.on('data', (d: Buffer) => {
      answer += d.toString('latin1');
      if (answer.includes('\r\n')) done();
    });
    socket.on('connect', () => socket.end(payload));
  });
}

async function fetchStatus(url: string, init: RequestInit): Promise<number | null> {
  try {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return null;
  }
}

/** Sends one randomly chosen hostile request to a node's /webhook (through the fake where it must be signed). */
export async function fuzzWebhookOnce(
  random: SeededRandom,
  control: FakeWecomControlClient,
  target: WebhookTarget,
  openKfid: string,
): Promise<WebhookFuzzOutcome> {
  const viaFake = async (kind: string, input: Parameters<FakeWecomControlClient['callbackRaw']>[0]) => ({
    kind,
    status: (await control.callbackRaw({ url: target.webhookUrl, ...input })).status,
    wellFormed: true,
  });
  switch (random.int(0, 9)) {
    case 0:
      return viaFake('body', { body: randomWebhookBody(random) });
    case 1:
      return viaFake('encrypt', { encrypt: Buffer.from(randomText(random, random.int(0, 300))).toString('base64') });
    case 2:
      return viaFake('signature', { msg_signature: random.bytes(20).toString('hex') });
    case 3:
      return viaFake('timestamp/nonce', {
        timestamp: random.pick(['-1', '1e309', 'NaN', '９９', '9'.repeat(40), randomText(random, 8)]),
        nonce: random.pick(['', randomText(random, 20), 'n'.repeat(2_000)]),
      });
    case 4:
      return viaFake('signed plaintext', { plaintext: randomSignedPlaintext(random, openKfid) });
    case 5: {
      const method = random.pick(['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']);
      const body = method === 'GET' || method === 'OPTIONS' ? undefined : randomWebhookBody(random);
      const headers: Record<string, string> = {
        'content-type': random.pick(['text/xml', 'application/json', 'multipart/form-data; boundary=x', 'x/y; charset=klingon']),
      };
      const status = await fetchStatus(`${target.httpUrl}/webhook${randomQuery(random)}`, {
        method,
        headers,
        ...(body !== undefined ? { body } : {}),
      });
      return { kind: `query ${method}`, status, wellFormed: true };
    }
    case 6: {
      // Past MAX_WEBHOOK_BYTES: the node may answer 413 before reading it all and close, so "no answer" is allowed.
      const status = await fetchStatus(`${target.webhookUrl}?msg_signature=a&timestamp=1&nonce=1`, {
        method: 'POST',
        body: 'A'.repeat(random.int(70_000, 400_000)),
      });
      return { kind: 'oversized body', status, wellFormed: false };
    }
    case 7: {
      const payload = random.pick([
        random.bytes(random.int(1, 2_000)),
        Buffer.from('POST /webhook?msg_signature=a&timestamp=1&nonce=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n<xml>'),
        Buffer.from(`GET /webhook?${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`),
        Buffer.from('POST /webhook HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\n'),
        Buffer.from(`GET /healthz HTTP/1.1\r\n${'X-A: b\r\n'.repeat(2_000)}\r\n`),
      ]);
      return { kind: 'raw tcp', status: await rawTcp(target.httpUrl, payload), wellFormed: false };
    }
    default: {
      const status = await fetchStatus(
        `${target.webhookUrl}?msg_signature=${random.bytes(20).toString('hex')}&timestamp=1&nonce=2&echostr=${percentEncode(randomText(random, 40))}`,
        { method: 'GET' },
      );
      return { kind: 'verify GET', status, wellFormed: true };
    }
  }
}
