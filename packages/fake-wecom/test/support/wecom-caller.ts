import type { FakeWecom } from '../../src/index.js';

/** WeCom's JSON answer, loosely typed for assertions. */
export type Answer = { errcode: number; errmsg: string } & Record<string, unknown>;

/** Calls a fake's /cgi-bin/ API with plain fetch, as any WeCom client would. */
export class WecomCaller {
  constructor(readonly fake: FakeWecom) {}

  /** gettoken with the fake's own credentials. */
  async token(): Promise<string> {
    const answer = await this.get('gettoken', { corpid: this.fake.options.corpId, corpsecret: this.fake.options.corpSecret });
    if (answer.errcode !== 0) throw new Error(`gettoken failed: ${answer.errcode}`);
    return answer['access_token'] as string;
  }

  /** A GET API call. */
  async get(api: string, query: Record<string, string>): Promise<Answer> {
    const res = await fetch(`${this.fake.url}/cgi-bin/${api}?${new URLSearchParams(query)}`);
    return (await res.json()) as Answer;
  }

  /** A POST JSON API call with a fresh or given token. */
  async post(api: string, body: unknown, token?: string): Promise<Answer> {
    const t = token ?? (await this.token());
    const res = await fetch(`${this.fake.url}/cgi-bin/${api}?access_token=${encodeURIComponent(t)}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return (await res.json()) as Answer;
  }

  /** sync_msg for the fake's kf account. */
  sync(fields: Record<string, unknown> = {}, token?: string): Promise<Answer> {
    return this.post('kf/sync_msg', { open_kfid: this.fake.options.openKfid, ...fields }, token);
  }

  /** send_msg text to a customer. */
  sendText(touser: string, content: string, extra: Record<string, unknown> = {}, token?: string): Promise<Answer> {
    return this.post(
      'kf/send_msg',
      { touser, open_kfid: this.fake.options.openKfid, msgtype: 'text', text: { content }, ...extra },
      token,
    );
  }

  /** media/upload of one file. */
  async upload(type: string, data: Buffer, filename: string, mime: string, token?: string): Promise<Answer> {
    const t = token ?? (await this.token());
    const form = new FormData();
    form.append('media', new Blob([data], { type: mime }), filename);
    const res = await fetch(`${this.fake.url}/cgi-bin/media/upload?access_token=${t}&type=${type}`, { method: 'POST', body: form });
    return (await res.json()) as Answer;
  }
}
