import type { Logger } from 'pino';
import type { GatewayObserver } from './gateway-types.js';

/** Wraps optional metrics hooks so a missing or throwing hook can never break a socket. */
export function safeObserver(observer: GatewayObserver | undefined, logger: Logger): GatewayObserver {
  const call = (hook: string, fn: () => void): void => {
    try {
      fn();
    } catch (err) {
      logger.warn({ err, hook }, 'gateway observer hook failed');
    }
  };
  if (observer === undefined) {
    return { connected: () => {}, frameError: () => {}, framesIn: () => {}, framesOut: () => {}, closed: () => {} };
  }
  return {
    connected: (delta) => call('connected', () => observer.connected(delta)),
    frameError: (code) => call('frameError', () => observer.frameError(code)),
    framesIn: (type) => call('framesIn', () => observer.framesIn(type)),
    framesOut: (type) => call('framesOut', () => observer.framesOut(type)),
    closed: (code) => call('closed', () => observer.closed?.(code)),
  };
}
