import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import { handleCgi } from './cgi-router.js';
import { ControlError } from './control-error.js';
import { handleControl } from './control-routes.js';
import type {
  AppendResult,
  CallbackInput,
  CallbackResult,
  CustomerMessageInput,
  EventInput,
  FakeWecomStats,
  RawCallbackInput,
  RawCallbackResult,
  RecallInput,
  RejectSwitchInput,
  ServicerStatusInput,
  CustomerProfileInput,
  ScanInput,
  ScanResult,
  SentMessage,
  ServicerMessageInput,
  SessionChangeInput,
  SessionInfo,
} from './control-types.js';
import { customerRecall, rejectSwitch, servicerStatus, sessionChange } from './session-actions.js';
import { createFakeState, type FakeState } from './fake-state.js';
import type { FaultSpec } from './fault-queue.js';
import { sendJson } from './http-io.js';
import type { MediaDownloadRecord } from './media-store.js';
import type { KfLogMessage } from './message-log.js';
import { resolveOptions, type FakeWecomOptions, type ResolvedFakeWecomOptions } from './options.js';
import { customerMessage, scan, servicerMessage, systemEvent } from './wecom-users.js';

/** A running fake WeCom: the API under /cgi-bin/, the control surface under /control/, and these same controls. */
export class FakeWecom {
  /** Base URL, e.g. http://127.0.0.1:9100 (append /cgi-bin/...). */
  readonly url: string;
  readonly #server: Server;
  readonly #state: FakeState;

  /** Use startFakeWecom(). */
  constructor(server: Server, state: FakeState) {
    const address = server.address() as AddressInfo;
    this.url = `http://${state.opts.host}:${address.port}`;
    this.#server = server;
    this.#state = state;
  }

  /** The settings in force (credentials included: this is a test fixture). */
  get options(): ResolvedFakeWecomOptions {
    return this.#state.opts;
  }

  /** Where callbacks go. */
  get callbackUrls(): readonly string[] {
    return [...this.#state.callbackUrls];
  }

  /** Replaces the relay URLs callbacks go to (relays often start after the fake). */
  setCallbackUrls(urls: readonly string[]): void {
    for (const url of urls) {
      try {
        new URL(url);
      } catch {
        throw new ControlError('CONTROL_BAD_REQUEST', `not a URL: ${url}`);
      }
    }
    this.#state.callbackUrls = [...urls];
  }

  /** A customer writes; see CustomerMessageInput. */
  customerMessage(input: CustomerMessageInput): Promise<AppendResult> {
    return customerMessage(this.#state, input);
  }

  /** A customer scans a binding URL. */
  scan(input: ScanInput): Promise<ScanResult> {
    return scan(this.#state, input);
  }

  /** A servicer takes, transfers, ends or re-enters a customer's session (session_status_change). */
  sessionChange(input: SessionChangeInput): Promise<AppendResult> {
    return sessionChange(this.#state, input);
  }

  /** The customer recalls a message (user_recall_msg). */
  recall(input: RecallInput): Promise<AppendResult> {
    return customerRecall(this.#state, input);
  }

  /** A servicer rejects or accepts again the customer's messages (reject_customer_msg_switch_change). */
  rejectSwitch(input: RejectSwitchInput): Promise<AppendResult> {
    return rejectSwitch(this.#state, input);
  }

  /** A servicer goes on or off duty (servicer_status_change). */
  servicerStatus(input: ServicerStatusInput): Promise<AppendResult> {
    return servicerStatus(this.#state, input);
  }

  /** Sets the profile kf/customer/batchget returns for a customer. */
  setCustomerProfile(input: CustomerProfileInput): void {
    this.#state.profiles.set(input);
  }

  /** How many ids each kf/customer/batchget asked for, oldest first. */
  get profileBatches(): number[] {
    return [...this.#state.profiles.batches];
  }

  /** A human servicer writes (origin 5). */
  servicerMessage(input: ServicerMessageInput): Promise<AppendResult> {
    return servicerMessage(this.#state, input);
  }

  /** A system event (origin 4). */
  event(input: EventInput): Promise<AppendResult> {
    return systemEvent(this.#state, input);
  }

  /** A callback without a new message, possibly duplicated and concurrent. */
  callback(input: CallbackInput = {}): Promise<CallbackResult[]> {
    const times = input.times ?? 1;
    if (!Number.isInteger(times) || times < 1 || times > 100) throw new ControlError('CONTROL_BAD_REQUEST', 'times must be 1-100');
    const openKfid = this.#state.account(input.open_kfid);
    return this.#state.callbacks.announce(input.urls ?? this.#state.callbackUrls, times, input.concurrent ?? false, openKfid);
  }

  /** A hand-made callback (bad signature, garbage body, ...) to one URL; default the first callback URL. */
  callbackRaw(input: RawCallbackInput = {}): Promise<RawCallbackResult> {
    const url = input.url ?? this.#state.callbackUrls[0];
    if (!url) throw new ControlError('CONTROL_BAD_REQUEST', 'no url given and no callback URL configured');
    return this.#state.callbacks.raw(url, input);
  }

  /** What the relay sent, to one customer or to all. */
  sent(filter: { touser?: string } = {}): SentMessage[] {
    return this.#state.sent.list(filter.touser);
  }

  /** The kf message log, as sync_msg would return it. */
  messages(): KfLogMessage[] {
    return this.#state.log.all();
  }

  /** msgid → wall-clock ms when a sync_msg answer first carried it. */
  served(): Record<string, number> {
    return this.#state.log.served();
  }

  /** Every media/get answer so far (whole or ranged), oldest first. */
  mediaDownloads(): MediaDownloadRecord[] {
    return this.#state.media.downloads();
  }

  /** Customer sessions (service state, send window). */
  sessions(): SessionInfo[] {
    return this.#state.sessions.all();
  }

  /** Queues faults on API paths. */
  faults(...faults: FaultSpec[]): void {
    try {
      this.#state.faults.add(...faults);
    } catch (err) {
      throw new ControlError('CONTROL_BAD_REQUEST', err instanceof Error ? err.message : String(err));
    }
  }

  /** Faults not yet consumed. */
  faultsPending(): FaultSpec[] {
    return this.#state.faults.pending();
  }

  /** Drops queued faults. */
  clearFaults(): void {
    this.#state.faults.clear();
  }

  /** Every access token issued so far answers 42001 from now on. */
  expireTokens(): void {
    this.#state.accessTokens.expireAll();
  }

  /** Same as expireTokens(). */
  expireAccessTokens(): void {
    this.expireTokens();
  }

  /** Changes the per-API per-minute limit (45009 past it). */
  setRateLimit(perMinute: number): void {
    if (!Number.isFinite(perMinute) || perMinute < 1) throw new ControlError('CONTROL_BAD_REQUEST', 'perMinute must be >= 1');
    this.#state.rateLimiter.setLimit(perMinute);
  }

  /** Files larger than this must be fetched from media/get with Range (830002 otherwise). */
  setLargeMediaThreshold(bytes: number): void {
    if (!(bytes >= 0)) throw new ControlError('CONTROL_BAD_REQUEST', 'bytes must be a number >= 0');
    this.#state.largeMediaThresholdBytes = bytes;
  }

  /** Moves the fake's clock forward (token expiry, 48 h window, 10 min callback tokens, 20 s codes). */
  advanceClock(ms: number): void {
    try {
      this.#state.clock.advance(ms);
    } catch (err) {
      throw new ControlError('CONTROL_BAD_REQUEST', err instanceof Error ? err.message : String(err));
    }
  }

  /** Counters since start or the last reset. */
  stats(): FakeWecomStats {
    return this.#state.stats.snapshot(this.#state.accessTokens.issuedCount);
  }

  /**
   * Back to an empty world: messages, sessions, media, sends, codes, faults, rate windows and stats. Issued access
   * tokens and contact-way links stay valid and cursors stay meaningful, because relays that hold them keep running
   * across tests.
   */
  reset(): void {
    const s = this.#state;
    s.log.reset();
    s.sessions.reset();
    s.eventCodes.reset();
    s.media.reset();
    s.sent.reset();
    s.profiles.reset();
    s.faults.clear();
    s.rateLimiter.reset();
    s.rateLimiter.setLimit(s.opts.rateLimitPerMinute);
    s.largeMediaThresholdBytes = s.opts.largeMediaThresholdBytes;
    s.stats.reset();
    s.accessTokens.resetCount();
    s.callbackTokens.reset();
    // Issued contact-way links stay valid (WeCom does not forget them): relays cache them across tests.
  }

  /** Stops listening and cuts open connections. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeAllConnections();
    await closed;
  }
}

async function route(fake: FakeWecom, state: FakeState, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://fake-wecom');
  if (url.pathname.startsWith('/cgi-bin/')) return handleCgi(state, req, res, url);
  if (url.pathname.startsWith('/control/')) return handleControl(fake, req, res, url);
  if (url.pathname === '/healthz') return sendJson(res, 200, { ok: true });
  sendJson(res, 404, { error: { code: 'NOT_FOUND', message: `no route ${url.pathname}` } });
}

/** Starts a fake WeCom on opts.port (0 = a free port). */
export async function startFakeWecom(opts: FakeWecomOptions = {}): Promise<FakeWecom> {
  const resolved = resolveOptions(opts);
  const logger: Logger = resolved.logger ?? pino({ level: 'silent' });
  const state = createFakeState(resolved, logger);
  let fake: FakeWecom | undefined;
  const server = createServer((req, res) => {
    if (!fake) {
      sendJson(res, 503, { error: { code: 'NOT_READY', message: 'starting' } });
      return;
    }
    route(fake, state, req, res).catch((err: unknown) => {
      logger.error({ err, path: req.url?.split('?')[0] }, 'request failed');
      if (!res.headersSent) sendJson(res, 500, { error: { code: 'INTERNAL', message: 'internal error' } });
      else res.destroy();
    });
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(resolved.port, resolved.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  fake = new FakeWecom(server, state);
  logger.info({ url: fake.url, openKfid: resolved.openKfid }, 'fake wecom listening');
  return fake;
}
