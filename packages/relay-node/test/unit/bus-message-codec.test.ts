import type { QueuedEvent } from '@wecom-relay/shared';
import { describe, expect, it } from 'vitest';
import type { QueuedItem } from '../../src/state/delivery-queue.js';
import type { BusMessage } from '../../src/state/node-bus.js';
import { decodeBusMessage, encodeBusMessage } from '../../src/state/redis/bus-message-codec.js';

const event: QueuedEvent = { type: 'inbound', id: 'm-1', externalUserId: 'wm-a', msgType: 'text', content: 'hi', timestamp: 1, wecomMsgType: 'text' };
const item = (id: string): QueuedItem => ({ id, event, enqueuedAt: 5 });

describe('bus message codec: the items a wake-up brings along', () => {
  it('round-trips a wake-many with runs for some of its gateways, and a wake with one', () => {
    const many: BusMessage = { kind: 'wake-many', gatewayIds: ['gw-1', 'gw-2'], sentAt: 1, runs: { 'gw-1': { after: null, items: [item('1-0'), item('1-1')] } } };
    expect(decodeBusMessage(encodeBusMessage(many))).toEqual(many);
    const one: BusMessage = { kind: 'wake', gatewayId: 'gw-1', sentAt: 1, run: { after: '7', items: [item('8'), item('10')] } };
    expect(decodeBusMessage(encodeBusMessage(one))).toEqual(one);
  });

  it('leaves out a run that is not well formed, keeping the wake-up (its owner reads the queue)', () => {
    const bad: unknown[] = [
      { after: null, items: [] },
      { after: 'x-1', items: [item('1-0')] },
      { after: '2-0', items: [item('1-0')] },
      { after: null, items: [item('1-1'), item('1-1')] },
      { after: null, items: [item('1-1'), item('1-0')] },
      { after: null, items: [{ id: '1-0', event: { id: 'no type' }, enqueuedAt: 1 }] },
      { after: null, items: [{ id: '1-0', event, enqueuedAt: 'soon' }] },
      { after: null, items: [{ id: '01-0', event, enqueuedAt: 1 }] },
      { after: null },
      'run',
    ];
    for (const run of bad) {
      const raw = JSON.stringify({ kind: 'wake-many', gatewayIds: ['gw-1'], sentAt: 1, runs: { 'gw-1': run } });
      expect(decodeBusMessage(raw), JSON.stringify(run)).toEqual({ kind: 'wake-many', gatewayIds: ['gw-1'], sentAt: 1 });
      expect(decodeBusMessage(JSON.stringify({ kind: 'wake', gatewayId: 'gw-1', sentAt: 1, run })), JSON.stringify(run)).toEqual({
        kind: 'wake',
        gatewayId: 'gw-1',
        sentAt: 1,
      });
    }
    // A run for a gateway the message does not name, or runs that are not a map, are dropped as well.
    const other = JSON.stringify({ kind: 'wake-many', gatewayIds: ['gw-1'], sentAt: 1, runs: { 'gw-9': { after: null, items: [item('1-0')] } } });
    expect(decodeBusMessage(other)).toEqual({ kind: 'wake-many', gatewayIds: ['gw-1'], sentAt: 1 });
    const list = JSON.stringify({ kind: 'wake-many', gatewayIds: ['gw-1'], sentAt: 1, runs: [{ after: null, items: [item('1-0')] }] });
    expect(decodeBusMessage(list)).toEqual({ kind: 'wake-many', gatewayIds: ['gw-1'], sentAt: 1 });
  });
});
