import type {
  AppendResult,
  CallbackInput,
  CallbackResult,
  CustomerMessageInput,
  EventInput,
  FakeWecomStats,
  FaultSpec,
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
import type { MediaDownloadRecord } from './media-store.js';
import type { KfLogMessage } from './message-log.js';

/** A control call the fake refused or could not answer; `code` is the fake's error code or HTTP_<status>. */
export class FakeWecomControlError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'FakeWecomControlError';
  }
}

/** What GET /control/info answers. */
export interface FakeWecomInfo {
  url: string;
  corp_id: string;
  open_kfid: string;
  /** Every kf account served (FAKE_WECOM_OPEN_KFID may list several), the first one first. */
  open_kfids: string[];
  callback_urls: string[];
}

/** Typed client of a fake WeCom's /control/ surface, for driving a fake that runs as another process. */
export class FakeWecomControl {
  readonly #base: string;

  /** baseUrl: the fake's URL, e.g. http://127.0.0.1:9100. */
  constructor(
    baseUrl: string,
    private readonly fetchImpl: typeof fetch = globalThis.fetch,
  ) {
    this.#base = baseUrl.replace(/\/+$/, '');
  }

  /** A customer writes. */
  customerMessage(input: CustomerMessageInput): Promise<AppendResult> {
    return this.#post('customer-message', input);
  }

  /** A customer scans a binding URL. */
  scan(input: ScanInput): Promise<ScanResult> {
    return this.#post('scan', input);
  }

  /** A servicer takes, transfers, ends or re-enters a session (session_status_change); see SessionChangeInput. */
  sessionChange(input: SessionChangeInput): Promise<AppendResult> {
    return this.#post('session-change', input);
  }

  /** The customer recalls a message (user_recall_msg). */
  recall(input: RecallInput): Promise<AppendResult> {
    return this.#post('recall', input);
  }

  /** A servicer rejects or accepts again the customer's messages (reject_customer_msg_switch_change). */
  rejectSwitch(input: RejectSwitchInput): Promise<AppendResult> {
    return this.#post('reject-switch', input);
  }

  /** A servicer goes on or off duty (servicer_status_change). */
  servicerStatus(input: ServicerStatusInput): Promise<AppendResult> {
    return this.#post('servicer-status', input);
  }

  /** Sets the profile kf/customer/batchget returns for a customer. */
  async customerProfile(input: CustomerProfileInput): Promise<void> {
    await this.#post('customer-profile', input);
  }

  /** How many ids each kf/customer/batchget asked for, oldest first. */
  async profileBatches(): Promise<number[]> {
    return (await this.#post<{ batches: number[] }>('profile-batches', {})).batches;
  }

  /** A servicer writes (origin 5). */
  servicerMessage(input: ServicerMessageInput): Promise<AppendResult> {
    return this.#post('servicer-message', input);
  }

  /** A system event (origin 4). */
  event(input: EventInput): Promise<AppendResult> {
    return this.#post('event', input);
  }

  /** A callback without a new message. */
  async callback(input: CallbackInput = {}): Promise<CallbackResult[]> {
    return (await this.#post<{ callbacks: CallbackResult[] }>('callback', input)).callbacks;
  }

  /** A hand-made callback. */
  callbackRaw(input: RawCallbackInput = {}): Promise<RawCallbackResult> {
    return this.#post('callback-raw', input);
  }

  /** What the relay sent. */
  async sent(filter: { touser?: string } = {}): Promise<SentMessage[]> {
    const q = filter.touser === undefined ? '' : `?touser=${encodeURIComponent(filter.touser)}`;
    return (await this.#get<{ sent: SentMessage[] }>(`sent${q}`)).sent;
  }

  /** The kf message log. */
  async messages(): Promise<KfLogMessage[]> {
    return (await this.#get<{ messages: KfLogMessage[] }>('messages')).messages;
  }

  /** msgid → wall-clock ms when a sync_msg answer first carried it. */
  async served(): Promise<Record<string, number>> {
    return (await this.#get<{ served: Record<string, number> }>('served')).served;
  }

  /** Every media/get answer the fake gave (whole or ranged), oldest first. */
  async mediaDownloads(): Promise<MediaDownloadRecord[]> {
    return (await this.#get<{ downloads: MediaDownloadRecord[] }>('media-downloads')).downloads;
  }

  /** Customer sessions. */
  async sessions(): Promise<SessionInfo[]> {
    return (await this.#get<{ sessions: SessionInfo[] }>('sessions')).sessions;
  }

  /** Queues faults. */
  async faults(...faults: FaultSpec[]): Promise<void> {
    await this.#post('faults', { faults });
  }

  /** Drops queued faults. */
  async clearFaults(): Promise<void> {
    await this.#post('faults/clear', {});
  }

  /** Faults not yet consumed. */
  async faultsPending(): Promise<FaultSpec[]> {
    return (await this.#get<{ pending: FaultSpec[] }>('faults')).pending;
  }

  /** Every issued access token answers 42001 from now on. */
  async expireTokens(): Promise<void> {
    await this.#post('expire-tokens', {});
  }

  /** Same as expireTokens(). */
  expireAccessTokens(): Promise<void> {
    return this.expireTokens();
  }

  /** Changes the per-API per-minute limit. */
  async setRateLimit(perMinute: number): Promise<void> {
    await this.#post('rate-limit', { per_minute: perMinute });
  }

  /** Files larger than this must be fetched from media/get with Range (830002 otherwise). */
  async setLargeMediaThreshold(bytes: number): Promise<void> {
    await this.#post('large-media', { threshold_bytes: bytes });
  }

  /** Moves the fake's clock forward. */
  async advanceClock(ms: number): Promise<void> {
    await this.#post('advance-clock', { ms });
  }

  /** Replaces the callback URLs. */
  async setCallbackUrls(urls: string[]): Promise<void> {
    await this.#post('callback-urls', { urls });
  }

  /** Counters. */
  stats(): Promise<FakeWecomStats> {
    return this.#get('stats');
  }

  /** URL, corp id, kf account and callback URLs of the fake. */
  info(): Promise<FakeWecomInfo> {
    return this.#get('info');
  }

  /** Back to an empty world. */
  async reset(): Promise<void> {
    await this.#post('reset', {});
  }

  #post<T>(name: string, body: unknown): Promise<T> {
    return this.#call(name, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  }

  #get<T>(name: string): Promise<T> {
    return this.#call(name, { method: 'GET' });
  }

  async #call<T>(name: string, init: RequestInit): Promise<T> {
    const res = await this.fetchImpl(`${this.#base}/control/${name}`, init);
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new FakeWecomControlError(`HTTP_${res.status}`, res.status, `control ${name}: non-JSON answer`);
    }
    if (!res.ok) {
      const error = (parsed as { error?: { code?: string; message?: string } }).error;
      throw new FakeWecomControlError(error?.code ?? `HTTP_${res.status}`, res.status, error?.message ?? `control ${name} failed`);
    }
    return parsed as T;
  }
}
