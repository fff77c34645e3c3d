import { z } from 'zod';
import type { GatewayCommand } from './messages.js';
import {
  recallFrameSchema,
  sendFrameSchema,
  sendOnEventFrameSchema,
  sendPayloadSchemas,
  serviceStateFrameSchema,
} from './send-frame-schemas.js';

type Parsed = { ok: true; value: GatewayCommand } | { ok: false; error: z.ZodError };

/** Decodes the `rich_outbound` commands (send, send_on_event, recall, service_state) from plain-named fields. */
export function toRichOutboundCommand(type: 'send' | 'send_on_event' | 'recall' | 'service_state', input: Record<string, unknown>): Parsed {
  switch (type) {
    case 'send_on_event': {
      const head = sendOnEventFrameSchema.safeParse(input);
      if (!head.success) return { ok: false, error: head.error };
      const { msgtype } = head.data;
      const body = z.object({ [msgtype]: sendPayloadSchemas[msgtype] }).safeParse(input);
      if (!body.success) return { ok: false, error: body.error };
      const payload = stripNulls((body.data as Record<string, Record<string, unknown>>)[msgtype] ?? {});
      return {
        ok: true,
        value: { type, id: head.data.id, externalUserId: head.data.external_user_id, code: head.data.code, msgtype, payload },
      };
    }
    case 'send': {
      const head = sendFrameSchema.safeParse(input);
      if (!head.success) return { ok: false, error: head.error };
      const { msgtype } = head.data;
      const body = z.object({ [msgtype]: sendPayloadSchemas[msgtype] }).safeParse(input);
      if (!body.success) return { ok: false, error: body.error };
      const payload = stripNulls((body.data as Record<string, Record<string, unknown>>)[msgtype] ?? {});
      return { ok: true, value: { type, id: head.data.id, externalUserId: head.data.external_user_id, msgtype, payload } };
    }
    case 'recall': {
      const r = recallFrameSchema.safeParse(input);
      return r.success ? { ok: true, value: { type, id: r.data.id, msgid: r.data.msgid } } : { ok: false, error: r.error };
    }
    case 'service_state': {
      const r = serviceStateFrameSchema.safeParse(input);
      if (!r.success) return { ok: false, error: r.error };
      const d = r.data;
      return {
        ok: true,
        value: {
          type,
          id: d.id,
          externalUserId: d.external_user_id,
          ...(d.service_state != null ? { serviceState: d.service_state } : {}),
          ...(d.servicer_userid != null ? { servicerUserId: d.servicer_userid } : {}),
        },
      };
    }
  }
}

/** JSON null means absent in our frames; WeCom should never see a null field. */
function stripNulls(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null && v !== undefined));
}
