import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One callback as a relay received it. */
export interface ReceivedCallback {
  query: URLSearchParams;
  body: string;
  contentType: string | undefined;
}

/** A minimal HTTP endpoint standing in for a relay's /webhook: records callbacks and answers a chosen status. */
export interface RelayStub {
  url: string;
  received: ReceivedCallback[];
  /** Status answered from now on (default 200). */
  answer(status: number): void;
  close(): Promise<void>;
}

/** Starts a relay stub on a free port. */
export async function startRelayStub(): Promise<RelayStub> {
  const received: ReceivedCallback[] = [];
  let status = 200;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://stub');
      received.push({ query: url.searchParams, body: Buffer.concat(chunks).toString('utf8'), contentType: req.headers['content-type'] });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/webhook`,
    received,
    answer: (s) => {
      status = s;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
