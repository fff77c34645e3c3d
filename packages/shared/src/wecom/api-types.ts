import { z } from 'zod';

/**
 * WeCom JSON the relay parses and the fake WeCom produces (reference §2.2, §3). Every object is loose: WeCom adds
 * fields and message kinds over time, and an unknown one must flow through as data, never fail a whole sync page.
 */

/** sync_msg `origin` values. */
export const WECOM_ORIGIN = { CUSTOMER: 3, SYSTEM_EVENT: 4, SERVICER: 5 } as const;

/** `{errcode, errmsg}`: every WeCom JSON answer has it; decide on errcode, never on errmsg. */
export const wecomErrorEnvelopeSchema = z.looseObject({
  errcode: z.number().int(),
  errmsg: z.string().default(''),
});
/** Parsed `{errcode, errmsg}`. */
export type WecomErrorEnvelope = z.infer<typeof wecomErrorEnvelopeSchema>;

/** Success answers carry errcode 0; tolerate its absence rather than refuse a usable body. */
const okEnvelope = { errcode: z.number().int().default(0), errmsg: z.string().default('') };

const mediaPayload = z.looseObject({ media_id: z.string() });

/** text payload; `menu_id` only when the text is a menu click. */
export const kfTextPayloadSchema = z.looseObject({ content: z.string(), menu_id: z.string().optional() });

/** location payload. */
export const kfLocationPayloadSchema = z.looseObject({
  latitude: z.number().optional(),
  longitude: z.number().optional(),
  name: z.string().optional(),
  address: z.string().optional(),
});

/** link payload. */
export const kfLinkPayloadSchema = z.looseObject({
  title: z.string().optional(),
  desc: z.string().optional(),
  url: z.string().optional(),
  pic_url: z.string().optional(),
});

/** miniprogram payload. */
export const kfMiniprogramPayloadSchema = z.looseObject({
  title: z.string().optional(),
  appid: z.string().optional(),
  pagepath: z.string().optional(),
  thumb_media_id: z.string().optional(),
});

/** msgmenu payload; list items vary by `type` (click/view/miniprogram) and are kept loose. */
export const kfMsgMenuPayloadSchema = z.looseObject({
  head_content: z.string().optional(),
  list: z.array(z.looseObject({ type: z.string() })).optional(),
  tail_content: z.string().optional(),
});

/**
 * The `event` payload (origin 4). `event_type` is any string; the fields of the known kinds (enter_session,
 * msg_send_fail, servicer_status_change, session_status_change, user_recall_msg, servicer_recall_msg,
 * reject_customer_msg_switch_change) are all optional because each kind carries a different subset.
 */
export const kfEventSchema = z.looseObject({
  event_type: z.string(),
  open_kfid: z.string().optional(),
  external_userid: z.string().optional(),
  servicer_userid: z.string().optional(),
  // enter_session
  scene: z.string().optional(),
  scene_param: z.string().optional(),
  welcome_code: z.string().optional(),
  wechat_channels: z
    .looseObject({ nickname: z.string().optional(), shop_nickname: z.string().optional(), scene: z.number().optional() })
    .optional(),
  // msg_send_fail: fail_type 4 = session expired, 6 = over the 5-message limit, 10 = user rejected, ...
  fail_msgid: z.string().optional(),
  fail_type: z.number().optional(),
  // servicer_status_change
  status: z.number().optional(),
  stop_type: z.number().optional(),
  // session_status_change
  change_type: z.number().optional(),
  old_servicer_userid: z.string().optional(),
  new_servicer_userid: z.string().optional(),
  msg_code: z.string().optional(),
  // user_recall_msg / servicer_recall_msg
  recall_msgid: z.string().optional(),
  // reject_customer_msg_switch_change
  reject_switch: z.number().optional(),
});
/** A kf event payload. */
export type KfEvent = z.infer<typeof kfEventSchema>;

/**
 * One msg_list item. `msgtype` is any string (newer kinds such as `channels_shop_product` or `merged_msg` are
 * unconfirmed by name and must pass); the payload object named after it is kept when the kind is unknown.
 * open_kfid/external_userid are absent at top level for events (they sit inside `event`).
 */
export const kfMessageSchema = z.looseObject({
  msgid: z.string(),
  open_kfid: z.string().optional(),
  external_userid: z.string().optional(),
  send_time: z.number(),
  origin: z.number(),
  servicer_userid: z.string().optional(),
  msgtype: z.string(),
  text: kfTextPayloadSchema.optional(),
  image: mediaPayload.optional(),
  voice: mediaPayload.optional(),
  video: mediaPayload.optional(),
  file: mediaPayload.optional(),
  location: kfLocationPayloadSchema.optional(),
  link: kfLinkPayloadSchema.optional(),
  business_card: z.looseObject({ userid: z.string().optional() }).optional(),
  miniprogram: kfMiniprogramPayloadSchema.optional(),
  msgmenu: kfMsgMenuPayloadSchema.optional(),
  event: kfEventSchema.optional(),
});
/** One message or event pulled by sync_msg. */
export type KfMessage = z.infer<typeof kfMessageSchema>;

/**
 * kf/sync_msg success answer. has_more is 0|1 and must drive the loop (msg_list can be empty while has_more is 1).
 * next_cursor stays optional so a missing one never overwrites a stored cursor with ''.
 */
export const syncMsgResponseSchema = z.looseObject({
  ...okEnvelope,
  next_cursor: z.string().optional(),
  has_more: z.union([z.literal(0), z.literal(1)]).default(0),
  msg_list: z.array(kfMessageSchema).default([]),
});
/** Parsed sync_msg answer. */
export type SyncMsgResponse = z.infer<typeof syncMsgResponseSchema>;

/** gettoken answer. */
export const accessTokenResponseSchema = z.looseObject({
  ...okEnvelope,
  access_token: z.string().min(1),
  expires_in: z.number(),
});
/** Parsed gettoken answer. */
export type AccessTokenResponse = z.infer<typeof accessTokenResponseSchema>;

/** kf/send_msg and kf/send_msg_on_event answer. Success means accepted, not delivered (watch msg_send_fail). */
export const sendMsgResponseSchema = z.looseObject({ ...okEnvelope, msgid: z.string() });
/** Parsed send_msg answer. */
export type SendMsgResponse = z.infer<typeof sendMsgResponseSchema>;

/** kf/add_contact_way answer. */
export const addContactWayResponseSchema = z.looseObject({ ...okEnvelope, url: z.string().min(1) });
/** Parsed add_contact_way answer. */
export type AddContactWayResponse = z.infer<typeof addContactWayResponseSchema>;

/** media/upload answer. The doc gives created_at as a string; a number is accepted and normalised to one. */
export const mediaUploadResponseSchema = z.looseObject({
  ...okEnvelope,
  type: z.string(),
  media_id: z.string().min(1),
  created_at: z.union([z.string(), z.number()]).transform(String),
});
/** Parsed media/upload answer. */
export type MediaUploadResponse = z.infer<typeof mediaUploadResponseSchema>;

/** kf/service_state/trans answer; msg_code is only present for some transitions. */
export const serviceStateTransResponseSchema = z.looseObject({ ...okEnvelope, msg_code: z.string().optional() });
/** Parsed service_state/trans answer. */
export type ServiceStateTransResponse = z.infer<typeof serviceStateTransResponseSchema>;

/**
 * kf/service_state/get answer. The servicer field's official name is UNCONFIRMED (`servicer_userid` in a logged
 * response, `service_userid` in one SDK): both are read.
 */
export const serviceStateGetResponseSchema = z.looseObject({
  ...okEnvelope,
  service_state: z.number().int(),
  servicer_userid: z.string().optional(),
  service_userid: z.string().optional(),
});
/** Parsed kf/service_state/get answer. */
export type ServiceStateGetResponse = z.infer<typeof serviceStateGetResponseSchema>;

/** kf/recall_msg answer: only the envelope. */
export const okResponseSchema = z.looseObject({ ...okEnvelope });

/** kf/customer/batchget answer: profiles (fields vary with the app's rights; kept loose) and the ids WeCom did not know. */
export const customerBatchGetResponseSchema = z.looseObject({
  ...okEnvelope,
  customer_list: z.array(z.looseObject({ external_userid: z.string() })).default([]),
  invalid_external_userid: z.array(z.string()).default([]),
});
