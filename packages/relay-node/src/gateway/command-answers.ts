import type { ErrorEvent } from '@wecom-relay/shared';
import type { SessionCommand } from './gateway-types.js';

/** An `error` frame with the code and message, answering the request `id` when there is one. */
export function errorEvent(code: string, message: string, id: string | undefined): ErrorEvent {
  const event: ErrorEvent = { type: 'error', code, message };
  if (id !== undefined) event.id = id;
  return event;
}

/** The id an answer to the command carries: the gateway's request id, or the command name the ack uses. */
export function requestIdOf(command: SessionCommand): string | undefined {
  switch (command.type) {
    case 'reply':
    case 'image_reply':
    case 'send':
    case 'send_on_event':
    case 'recall':
    case 'service_state':
      return command.id;
    case 'unbind_all':
      return 'unbind_all';
    // create_binding carries no id; its refusals (RATE_LIMITED, TOO_MANY_BINDING_TOKENS) name the command, as
    // unbind_all's do, so a gateway can tell them from other errors.
    case 'create_binding':
      return 'create_binding';
    default:
      return undefined;
  }
}
