/**
 * Runs the project's fake WeCom in a process of its own (so its CPU is measured apart from the bench) and lets the
 * bench append messages in bulk over IPC: a 200,000-message burst is set up in seconds instead of one HTTP control
 * call per message. WeCom's side (gettoken, sync_msg, callbacks) is the fake's real HTTP surface.
 */
import { startFakeWecom, type FakeWecom } from '@wecom-relay/fake-wecom';
import { serveIpc } from '../lib/ipc-child.js';
import { userName } from '../lib/naming.js';
import type { FakeReply, FakeRequest } from './fake-protocol.js';

const env = process.env;
let fake: FakeWecom | null = null;
let counter = 0;

async function handle(req: FakeRequest): Promise<FakeReply> {
  if (!fake) {
    fake = await startFakeWecom({
      corpId: env.FAKE_WECOM_CORPID!,
      corpSecret: env.FAKE_WECOM_SECRET!,
      callbackToken: env.FAKE_WECOM_TOKEN!,
      encodingAesKey: env.FAKE_WECOM_AES_KEY!,
      openKfid: env.FAKE_WECOM_OPEN_KFID!,
      callbackUrls: (env.FAKE_WECOM_CALLBACK_URLS ?? '').split(',').filter(Boolean),
    });
  }
  switch (req.type) {
    case 'append': {
      const msgids: string[] = [];
      for (const u of req.users) {
        const r = await fake.customerMessage({ external_userid: userName(u), msgtype: 'text', content: `bench message ${counter++}`, deliver: false });
        msgids.push(r.msgid);
      }
      return { type: 'appended', msgids };
    }
    case 'callback':
      return { type: 'called', statuses: (await fake.callback({ concurrent: true })).map((c) => c.status) };
    case 'served':
      return { type: 'served', served: fake.served() };
    case 'close':
      await fake.close();
      return { type: 'closed' };
  }
}

serveIpc<FakeRequest | { type: 'start' }, FakeReply>(
  async (req) => {
    if (req.type === 'start') {
      await handle({ type: 'served' });
      return { type: 'ready', url: fake!.url };
    }
    return handle(req);
  },
  (rep) => {
    if (rep.type === 'closed') setTimeout(() => process.exit(0), 50);
  },
);
