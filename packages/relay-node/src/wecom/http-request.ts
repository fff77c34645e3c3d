import { request as httpRequest, type IncomingMessage } from 'node:http';

/**
 * WeCom's HTTP calls go through node:http(s), not the global fetch: the first use of fetch (or Response, FormData)
 * loads Node's bundled undici, about 12 MB of resident memory a node would carry for good (measured on Node 20:
 * `new Response('x')` takes a bare process from 40.5 to 52.8 MB RSS; an http request to 44.1 MB), while the node
 * already has node:http for its own servers. Keep-alive comes from Node's global agents.
 */

/** One request, as WecomHttp makes it. */
export interface HttpRequest {
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: Buffer | string;
  /** Aborts the request and, once answered, the body. */
  signal: AbortSignal;
}

/** One HTTP answer, read once: status and headers at hand, the body as it arrives. */
export interface HttpAnswer {
  readonly status: number;
  /** Whether the status is 2xx. */
  readonly ok: boolean;
  /** A response header by (case-insensitive) name; several values are joined with ', '; null when absent. */
  header(name: string): string | null;
  /** The body's bytes in order; iterate it once. */
  readonly body: AsyncIterable<Buffer>;
  /** The whole body as UTF-8; rejects past {@link MAX_TEXT_BYTES}, so a runaway answer cannot fill the node. */
  text(): Promise<string>;
  /** Abandons the rest of the body (its connection is closed, not reused). */
  cancel(): void;
}

/** Sends one request; resolves once the status line and headers are in. */
export type HttpRequester = (url: string, request: HttpRequest) => Promise<HttpAnswer>;

/** WeCom's JSON answers (a sync_msg page of 1,000 messages included) are far below this. */
export const MAX_TEXT_BYTES = 16 * 1024 * 1024;

// node:https (and with it tls) is loaded on the first https call: a node talking to a fake WeCom never needs it.
let httpsRequest: typeof httpRequest | null = null;

async function requestFnFor(protocol: string): Promise<typeof httpRequest> {
  if (protocol === 'http:') return httpRequest;
  if (protocol === 'https:') return (httpsRequest ??= (await import('node:https')).request);
  throw new TypeError(`unsupported protocol ${protocol}`);
}

/** The requester WecomHttp uses unless given another: node:http for http://, node:https for https://. */
export const nodeHttpRequest: HttpRequester = async (url, request) => {
  const target = new URL(url);
  const send = await requestFnFor(target.protocol);
  const headers: Record<string, string | number> = { ...request.headers };
  if (request.body !== undefined) headers['content-length'] = Buffer.byteLength(request.body);
  return await new Promise<HttpAnswer>((resolve, reject) => {
    const req = send(target, { method: request.method, headers, signal: request.signal }, (res) => resolve(answerOf(res)));
    // Kept for good: an error after the answer (a reset mid-body) also reaches the body's reader.
    req.on('error', reject);
    req.end(request.body);
  });
};

function answerOf(res: IncomingMessage): HttpAnswer {
  const status = res.statusCode ?? 0;
  return {
    status,
    ok: status >= 200 && status < 300,
    header(name) {
      const value = res.headers[name.toLowerCase()];
      if (value === undefined) return null;
      return Array.isArray(value) ? value.join(', ') : value;
    },
    body: res,
    async text() {
      const chunks: Buffer[] = [];
      let total = 0;
      for await (const chunk of res as AsyncIterable<Buffer>) {
        total += chunk.length;
        if (total > MAX_TEXT_BYTES) {
          res.destroy();
          throw new RangeError(`answer longer than ${MAX_TEXT_BYTES} bytes`);
        }
        chunks.push(chunk);
      }
      return Buffer.concat(chunks, total).toString('utf8');
    },
    cancel() {
      res.destroy();
    },
  };
}
