import { setTimeout as sleep } from 'node:timers/promises';
import type { z } from 'zod';
import { wecomErrorEnvelopeSchema } from '@wecom-relay/shared';
import {
  ERRCODE_FREQUENCY_LIMITED,
  ERRCODE_SYSTEM_BUSY,
  WecomApiError,
  isTokenError,
  isTransient,
} from './wecom-api-error.js';
import type { HttpAnswer } from './http-request.js';
import { redactSecrets, type ResolvedWecomClientOptions } from './wecom-client-options.js';

/** Source of access tokens for authenticated calls. */
export interface TokenSource {
  get(): Promise<string>;
  invalidate(token: string): Promise<void>;
}

/** What reading one HTTP answer produced. */
export type AttemptOutcome<T> =
  | { kind: 'ok'; value: T }
  /** WeCom answered with a non-zero errcode. */
  | { kind: 'errcode'; errcode: number; errmsg: string }
  /** No usable WeCom answer: network error, timeout, HTTP error, body that is not WeCom JSON. */
  | { kind: 'transport'; message: string; retryable: boolean }
  /** Stop now with this error (e.g. a size cap). */
  | { kind: 'fatal'; error: Error };

/** Reads an HTTP answer; the signal aborts when the attempt times out. */
export type AnswerReader<T> = (res: HttpAnswer, signal: AbortSignal) => Promise<AttemptOutcome<T>>;

/** One logical call (possibly several HTTP attempts). */
export interface WecomCall<T> {
  /** WeCom's API name, e.g. "kf/send_msg"; the URL is apiBase + "/cgi-bin/" + api. */
  api: string;
  method: 'GET' | 'POST';
  query?: Record<string, string>;
  /** Extra request headers, e.g. Range for a media download in parts. */
  headers?: Record<string, string>;
  /** Built per attempt; with its Content-Type (a multipart one names its boundary). */
  body?: () => { body: Buffer | string; contentType?: string };
  /** Whether the call carries access_token; default true. */
  auth?: boolean;
  /** Whether repeating it is safe (reads, or writes WeCom deduplicates); default true. */
  retryable?: boolean;
  /**
   * Errcodes that, on a retry after a failure that may have reached WeCom, mean the earlier attempt took effect
   * (a reused client msgid); `alreadyDone` then supplies the result.
   */
  alreadyDoneErrcodes?: readonly number[];
  alreadyDone?: () => T;
  read: AnswerReader<T>;
}

/** Classifies the HTTP status, then reads the body as WeCom JSON ({@link parseWecomJson}). */
export async function readWecomJson(res: HttpAnswer): Promise<AttemptOutcome<unknown>> {
  if (!res.ok) {
    res.cancel();
    return { kind: 'transport', message: `HTTP ${res.status}`, retryable: res.status >= 500 || res.status === 429 };
  }
  return parseWecomJson(await res.text());
}

/** Parses a body as WeCom JSON: a non-zero errcode, or the parsed value. */
export function parseWecomJson(text: string): AttemptOutcome<unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // A 200 that is not JSON comes from something in front of WeCom (a proxy page), not from WeCom.
    return { kind: 'transport', message: 'answer is not JSON', retryable: true };
  }
  const envelope = wecomErrorEnvelopeSchema.safeParse(value);
  if (envelope.success && envelope.data.errcode !== 0) {
    return { kind: 'errcode', errcode: envelope.data.errcode, errmsg: envelope.data.errmsg };
  }
  return { kind: 'ok', value };
}

/** A reader for JSON APIs whose success answer `parse` turns into T (null: unexpected shape). */
export function parsingReader<T>(api: string, parse: (value: unknown) => T | null): AnswerReader<T> {
  return async (res) => {
    const body = await readWecomJson(res);
    if (body.kind !== 'ok') return body;
    const parsed = parse(body.value);
    if (parsed === null) {
      return { kind: 'fatal', error: new WecomApiError('WECOM_API_ERROR', { api, errcode: 0, errmsg: 'answer has an unexpected shape' }) };
    }
    return { kind: 'ok', value: parsed };
  };
}

/** A reader for JSON APIs validated by a zod schema. */
export function jsonReader<S extends z.ZodType>(api: string, schema: S): AnswerReader<z.output<S>> {
  return parsingReader(api, (value) => {
    const parsed = schema.safeParse(value);
    return parsed.success ? parsed.data : null;
  });
}

/**
 * Runs WeCom calls: access token in the query, refresh-and-retry once on a token error, back-off with jitter on
 * transient failures, a timeout per attempt, metrics per attempt. Never logs the token or the secret.
 */
export class WecomHttp {
  constructor(
    private readonly o: ResolvedWecomClientOptions,
    private readonly tokens: TokenSource,
  ) {}

  /** Performs a call; throws WecomApiError (or the reader's fatal error). */
  async call<T>(call: WecomCall<T>): Promise<T> {
    const auth = call.auth ?? true;
    const retryable = call.retryable ?? true;
    let retries = 0;
    let tokenRetried = false;
    let mayHaveReached = false;
    for (;;) {
      const token = auth ? await this.tokens.get() : null;
      const outcome = await this.#attempt(call, token);
      if (outcome.kind === 'ok') return outcome.value;
      if (outcome.kind === 'fatal') throw outcome.error;

      if (outcome.kind === 'errcode') {
        const { errcode, errmsg } = outcome;
        if (mayHaveReached && call.alreadyDone && call.alreadyDoneErrcodes?.includes(errcode)) {
          this.o.logger.info({ api: call.api, errcode }, 'wecom: an earlier attempt went through');
          return call.alreadyDone();
        }
        if (token !== null && !tokenRetried && isTokenError(errcode, call.api)) {
          tokenRetried = true;
          this.o.logger.info({ api: call.api, errcode }, 'wecom: access token refused; refreshing and retrying once');
          await this.tokens.invalidate(token);
          continue;
        }
        const transient = isTransient(errcode);
        if (transient && retryable && retries < this.o.maxRetries) {
          retries++;
          if (errcode === ERRCODE_SYSTEM_BUSY) mayHaveReached = true;
          await this.#backoff(call.api, retries, errcode, `errcode ${errcode}`);
          continue;
        }
        throw new WecomApiError(transient ? 'WECOM_UNAVAILABLE' : 'WECOM_API_ERROR', { api: call.api, errcode, errmsg });
      }

      mayHaveReached = true;
      if (outcome.retryable && retryable && retries < this.o.maxRetries) {
        retries++;
        await this.#backoff(call.api, retries, null, outcome.message);
        continue;
      }
      throw new WecomApiError('WECOM_UNAVAILABLE', { api: call.api, errcode: null, message: outcome.message });
    }
  }

  async #backoff(api: string, retry: number, errcode: number | null, reason: string): Promise<void> {
    const base = errcode === ERRCODE_FREQUENCY_LIMITED ? this.o.rateLimitBaseMs : this.o.retryBaseMs;
    const step = Math.min(this.o.maxBackoffMs, base * 2 ** (retry - 1));
    // Half fixed, half random: spreads nodes that failed together without ever retrying at once.
    const delayMs = Math.round(step / 2 + (this.o.random() * step) / 2);
    this.o.logger.warn({ api, retry, maxRetries: this.o.maxRetries, delayMs, reason }, 'wecom: transient failure; retrying');
    await sleep(delayMs);
  }

  async #attempt<T>(call: WecomCall<T>, token: string | null): Promise<AttemptOutcome<T>> {
    const query = new URLSearchParams(call.query ?? {});
    if (token !== null) query.set('access_token', token);
    const qs = query.toString();
    const url = `${this.o.apiBase}/cgi-bin/${call.api}${qs ? `?${qs}` : ''}`;
    const built = call.body?.();
    const headers: Record<string, string> = { ...call.headers };
    if (built?.contentType) headers['content-type'] = built.contentType;

    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error(`timed out after ${this.o.timeoutMs} ms`)), this.o.timeoutMs);
    const started = this.o.now();
    let outcome: AttemptOutcome<T>;
    try {
      const res = await this.o.request(url, {
        method: call.method,
        headers,
        ...(built ? { body: built.body } : {}),
        signal: controller.signal,
      });
      outcome = await call.read(res, controller.signal);
    } catch (err) {
      const reason = controller.signal.aborted ? `timed out after ${this.o.timeoutMs} ms` : describeNetworkError(err);
      outcome = { kind: 'transport', message: reason, retryable: true };
    } finally {
      clearTimeout(timer);
    }
    const seconds = (this.o.now() - started) / 1000;
    const label = outcome.kind === 'ok' ? 0 : outcome.kind === 'errcode' ? outcome.errcode : outcome.kind === 'fatal' ? 0 : 'network';
    this.o.observer?.apiCall(call.api, label, seconds);
    if (outcome.kind === 'transport') {
      this.o.logger.debug({ api: call.api, reason: outcome.message }, 'wecom: no usable answer');
    }
    return outcome;
  }
}

/** A short reason for a failed request, without URLs (they would carry the token). */
function describeNetworkError(err: unknown): string {
  if (!(err instanceof Error)) return 'network error';
  const code = (err as { code?: unknown }).code;
  return redactSecrets(typeof code === 'string' && !err.message.includes(code) ? `${err.message} (${code})` : err.message);
}
