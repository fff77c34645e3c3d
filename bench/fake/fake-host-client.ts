/** The bench's handle on a fake WeCom host process. */
import type { TestCorp } from '@wecom-relay/testkit';
import { IpcChild } from '../lib/ipc-child.js';
import type { FakeReply, FakeRequest } from './fake-protocol.js';

type Host = IpcChild<FakeRequest | { type: 'start' }, FakeReply>;

/** A running fake WeCom. */
export class FakeHost {
  private constructor(
    private readonly host: Host,
    /** Base URL: WECOM_API_BASE of the servers. */
    readonly url: string,
  ) {}

  /** Starts the fake for `corp`, POSTing callbacks to `callbackUrls`. */
  static async start(script: string, corp: TestCorp, callbackUrls: string[]): Promise<FakeHost> {
    const host: Host = new IpcChild(script, 'fake WeCom', {
      ...process.env,
      FAKE_WECOM_CORPID: corp.corpId,
      FAKE_WECOM_SECRET: corp.secret,
      FAKE_WECOM_TOKEN: corp.token,
      FAKE_WECOM_AES_KEY: corp.encodingAesKey,
      FAKE_WECOM_OPEN_KFID: corp.openKfid,
      FAKE_WECOM_CALLBACK_URLS: callbackUrls.join(','),
    });
    try {
      const ready = await host.ask<Extract<FakeReply, { type: 'ready' }>>({ type: 'start' }, 30_000);
      return new FakeHost(host, ready.url);
    } catch (err) {
      host.kill();
      throw err;
    }
  }

  /** Its process id. */
  get pid(): number {
    return this.host.pid;
  }

  /** One message from each user index (in order); returns the msgids. */
  async append(users: number[]): Promise<string[]> {
    const ids: string[] = [];
    // Chunks keep each IPC message small and let other requests interleave.
    for (let i = 0; i < users.length; i += 5_000) {
      const r = await this.host.ask<Extract<FakeReply, { type: 'appended' }>>({ type: 'append', users: users.slice(i, i + 5_000) }, 60_000);
      ids.push(...r.msgids);
    }
    return ids;
  }

  /** One callback to every server; the HTTP statuses (null: no answer, e.g. a killed node). */
  async callback(): Promise<Array<number | null>> {
    return (await this.host.ask<Extract<FakeReply, { type: 'called' }>>({ type: 'callback' }, 30_000)).statuses;
  }

  /** msgid → epoch ms when sync_msg first served it. */
  async served(): Promise<Record<string, number>> {
    return (await this.host.ask<Extract<FakeReply, { type: 'served' }>>({ type: 'served' }, 60_000)).served;
  }

  /** Closes the fake and ends the process. */
  async stop(): Promise<void> {
    await this.host.ask({ type: 'close' }, 10_000).catch(() => undefined);
    this.host.kill();
  }
}
