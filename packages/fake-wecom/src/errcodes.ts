/**
 * The WeCom errcodes the fake answers with. Codes marked UNCONFIRMED were chosen here because no public source
 * names the code WeCom uses for that case (reference §3.7); clients must not rely on them beyond this fake.
 */
export const ERRCODE = {
  OK: 0,
  SYSTEM_BUSY: -1,
  INVALID_SECRET: 40001,
  INVALID_FILE_TYPE: 40005,
  INVALID_FILE_SIZE: 40006,
  INVALID_MEDIA_ID: 40007,
  INVALID_MSGTYPE: 40008,
  INVALID_IMAGE_SIZE: 40009,
  INVALID_VOICE_SIZE: 40010,
  INVALID_VIDEO_SIZE: 40011,
  INVALID_CORPID: 40013,
  INVALID_ACCESS_TOKEN: 40014,
  /** UNCONFIRMED: the code for a bad/used/expired send_msg_on_event code; 40029 is WeCom's generic "invalid code". */
  INVALID_EVENT_CODE: 40029,
  INVALID_MEDIA_TYPE: 40004,
  /** WeCom's generic "invalid parameter"; also used for a bad sync_msg cursor (UNCONFIRMED which code WeCom uses). */
  INVALID_PARAMETER: 40058,
  GET_REQUIRED: 43001,
  POST_REQUIRED: 43002,
  MISSING_ACCESS_TOKEN: 41001,
  MISSING_CORPID: 41002,
  MISSING_SECRET: 41004,
  ACCESS_TOKEN_EXPIRED: 42001,
  EMPTY_MEDIA: 44001,
  EMPTY_TEXT: 44004,
  CONTENT_TOO_LONG: 45002,
  FREQUENCY_LIMITED: 45009,
  CONCURRENCY_LIMITED: 45033,
  INVALID_JSON: 47001,
  INVALID_OPEN_KFID: 95000,
  SEND_COUNT_LIMIT: 95001,
  SEND_TIME_LIMIT: 95002,
  INVALID_MSG_TOKEN: 95007,
  MENU_TOO_MANY_ITEMS: 95008,
  INVALID_MENU_ITEM_TYPE: 95009,
  INVALID_SERVICE_STATE_TRANSITION: 95016,
  SESSION_STATE_FORBIDS_SEND: 95018,
  /** UNCONFIRMED: WeCom documents that a reused send_msg msgid errors but not with which code. */
  DUPLICATE_MSGID: 95019,
  /** UNCONFIRMED: kf/recall_msg of a message older than 2 minutes (or not sent by the API, or already recalled). */
  RECALL_NOT_ALLOWED: 95020,
} as const;

const DESCRIPTIONS: Record<number, string> = {
  [ERRCODE.SYSTEM_BUSY]: 'system busy',
  [ERRCODE.INVALID_ACCESS_TOKEN]: 'invalid access_token',
  [ERRCODE.MISSING_ACCESS_TOKEN]: 'access_token missing',
  [ERRCODE.ACCESS_TOKEN_EXPIRED]: 'access_token expired',
  [ERRCODE.FREQUENCY_LIMITED]: 'api freq out of limit',
  [ERRCODE.CONCURRENCY_LIMITED]: 'api concurrent out of limit',
  [ERRCODE.INVALID_OPEN_KFID]: 'invalid open_kfid',
  [ERRCODE.SEND_COUNT_LIMIT]: 'send msg count limit',
  [ERRCODE.SEND_TIME_LIMIT]: 'send msg time limit',
  [ERRCODE.INVALID_MSG_TOKEN]: 'invalid msg token',
  [ERRCODE.INVALID_SERVICE_STATE_TRANSITION]: 'service state transition not allowed',
  [ERRCODE.SESSION_STATE_FORBIDS_SEND]: 'send msg session status invalid',
};

/** Human text for each errcode, in WeCom's style (clients must decide on errcode, never on errmsg). */
export function errmsgFor(errcode: number, detail?: string): string {
  if (errcode === 0) return 'ok';
  detail ??= DESCRIPTIONS[errcode];
  const hint = `hint: [fake-wecom], from ip: 127.0.0.1, more info at https://open.work.weixin.qq.com/devtool/query?e=${errcode}`;
  return detail ? `${detail}, ${hint}` : hint;
}
