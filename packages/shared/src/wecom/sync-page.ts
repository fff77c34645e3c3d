import { z } from 'zod';
import { kfMessageSchema, syncMsgResponseSchema, type SyncMsgResponse } from './api-types.js';

/** A msg_list item that did not match kfMessageSchema, kept so the caller can log it instead of losing it silently. */
export interface RejectedKfItem {
  index: number;
  item: unknown;
  /** Which fields were wrong, for the log. */
  reason: string;
}

const pageShell = syncMsgResponseSchema.extend({ msg_list: z.array(z.unknown()).default([]) });

/**
 * Parses a sync_msg answer item by item: one malformed item must not fail the page, or the cursor could never move
 * past it and every later message would be stuck. Returns null only when the page itself (cursor, has_more) is unusable.
 */
export function parseSyncMsgPage(json: unknown): { page: SyncMsgResponse; rejected: RejectedKfItem[] } | null {
  const shell = pageShell.safeParse(json);
  if (!shell.success) return null;
  const rejected: RejectedKfItem[] = [];
  const messages: SyncMsgResponse['msg_list'] = [];
  shell.data.msg_list.forEach((item, index) => {
    const r = kfMessageSchema.safeParse(item);
    if (r.success) messages.push(r.data);
    else rejected.push({ index, item, reason: r.error.issues.map((i) => `${i.path.join('.') || '(item)'}: ${i.message}`).join('; ') });
  });
  return { page: { ...shell.data, msg_list: messages }, rejected };
}
