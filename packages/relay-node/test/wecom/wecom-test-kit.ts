import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
// relay-node does not list @wecom-relay/fake-wecom as a dependency, so the fake is reached by path.
import { startFakeWecom, type FakeWecom, type FakeWecomOptions } from '../../../fake-wecom/src/index.js';
import { MemoryAccessTokenStore } from '../../src/state/memory/memory-access-token-store.js';
import type { AccessTokenStore } from '../../src/state/access-token-store.js';
import { createWecomClient, type WecomClient, type WecomClientOptions } from '../../src/wecom/index.js';

/** Every log line a client wrote, as text, to check what is (not) logged. */
export interface CapturedLogs {
  logger: Logger;
  text(): string;
}

/** A pino logger writing into memory. */
export function captureLogs(): CapturedLogs {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), text: () => lines.join('') };
}

/** One recorded observer call. */
export type ObservedCall = { api: string; errcode: number | 'network' };

/** A client wired to a fake, with its observer's records. */
export interface TestClient {
  client: WecomClient;
  calls: ObservedCall[];
  refreshes: boolean[];
  logs: CapturedLogs;
}

/** Starts an in-process fake WeCom. */
export function startFake(opts: FakeWecomOptions = {}): Promise<FakeWecom> {
  return startFakeWecom(opts);
}

/** A client of `fake` with fast back-off (tests need not wait seconds) unless overridden. */
export function clientFor(fake: FakeWecom, overrides: Partial<WecomClientOptions> & { tokenStore?: AccessTokenStore } = {}): TestClient {
  const calls: ObservedCall[] = [];
  const refreshes: boolean[] = [];
  const logs = captureLogs();
  const client = createWecomClient({
    apiBase: fake.url,
    corpId: fake.options.corpId,
    secret: fake.options.corpSecret,
    tokenStore: new MemoryAccessTokenStore(),
    logger: logs.logger,
    observer: {
      apiCall: (api, errcode) => calls.push({ api, errcode }),
      tokenRefresh: (ok) => refreshes.push(ok),
    },
    retryBaseMs: 10,
    rateLimitBaseMs: 20,
    ...overrides,
  });
  return { client, calls, refreshes, logs };
}

/** A customer writes so that the relay may answer (opens the 48 h / 5-message window). */
export async function customerWrites(fake: FakeWecom, user: string, content = 'hello'): Promise<string> {
  return (await fake.customerMessage({ external_userid: user, msgtype: 'text', content, deliver: false })).msgid;
}
