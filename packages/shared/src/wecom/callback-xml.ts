import { cdata, parseWecomXml, requiredTextField, textField } from './safe-xml.js';

export { WecomXmlError, type WecomXmlErrorCode } from './xml-error.js';

/** The Event value of a kf callback: "new messages or events are waiting in sync_msg". */
export const KF_CALLBACK_EVENT = 'kf_msg_or_event';

/** Parses the POST body envelope; only Encrypt is required. Rejects DOCTYPE/ENTITY (no entity expansion), non-XML, huge nesting. */
export function parseCallbackEnvelope(xml: string): { encrypt: string; toUserName?: string; agentId?: string } {
  const root = parseWecomXml(xml);
  const encrypt = requiredTextField(root, 'Encrypt');
  // Whether kf callbacks carry AgentID (empty or not) is unconfirmed (reference §1.5), so both extras are optional.
  const toUserName = textField(root, 'ToUserName');
  const agentId = textField(root, 'AgentID');
  return { encrypt, ...(toUserName !== undefined ? { toUserName } : {}), ...(agentId !== undefined ? { agentId } : {}) };
}

/** Builds an envelope like WeCom sends: <xml><ToUserName>..</ToUserName><Encrypt><![CDATA[..]]></Encrypt><AgentID>..</AgentID></xml> */
export function buildCallbackEnvelope(p: { toUserName: string; encrypt: string; agentId?: string }): string {
  const agent = p.agentId === undefined ? '' : `<AgentID>${cdata(p.agentId)}</AgentID>`;
  return `<xml><ToUserName>${cdata(p.toUserName)}</ToUserName><Encrypt>${cdata(p.encrypt)}</Encrypt>${agent}</xml>`;
}

/** The decrypted kf callback event (MsgType event, Event kf_msg_or_event). Values as strings; Token/OpenKfId may be absent. */
export interface KfCallbackEvent {
  toUserName: string;
  createTime: string;
  msgType: string;
  event: string;
  /** sync_msg token, valid 10 minutes. */
  token?: string;
  /** The kf account with new messages; older copies of the doc omit it. */
  openKfid?: string;
}

/** Parses a decrypted callback; MsgType/Event are returned as sent so the caller decides what it handles. Throws WecomXmlError. */
export function parseKfCallbackEvent(xml: string): KfCallbackEvent {
  const root = parseWecomXml(xml);
  const event: KfCallbackEvent = {
    toUserName: requiredTextField(root, 'ToUserName'),
    createTime: requiredTextField(root, 'CreateTime'),
    msgType: requiredTextField(root, 'MsgType'),
    event: requiredTextField(root, 'Event'),
  };
  const token = textField(root, 'Token');
  const openKfid = textField(root, 'OpenKfId');
  if (token !== undefined) event.token = token;
  if (openKfid !== undefined) event.openKfid = openKfid;
  return event;
}

/** Builds the decrypted kf callback XML WeCom sends (reference §2.1), for the fake WeCom. */
export function buildKfCallbackEvent(e: { toUserName: string; createTime: number; token: string; openKfid: string }): string {
  return (
    `<xml><ToUserName>${cdata(e.toUserName)}</ToUserName>` +
    `<CreateTime>${Math.trunc(e.createTime)}</CreateTime>` +
    `<MsgType>${cdata('event')}</MsgType>` +
    `<Event>${cdata(KF_CALLBACK_EVENT)}</Event>` +
    `<Token>${cdata(e.token)}</Token>` +
    `<OpenKfId>${cdata(e.openKfid)}</OpenKfId></xml>`
  );
}
