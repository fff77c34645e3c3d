export { FakeWecom, startFakeWecom } from './fake-wecom.js';
export { FAKE_WECOM_DEFAULTS, type FakeWecomOptions, type ResolvedFakeWecomOptions } from './options.js';
export { FakeWecomControl, FakeWecomControlError, type FakeWecomInfo } from './control-client.js';
export { ERRCODE } from './errcodes.js';
export { SAMPLE_AMR, SAMPLE_MP4, SAMPLE_PNG } from './sample-media.js';
export type { FaultSpec } from './fault-queue.js';
export type { KfLogMessage } from './message-log.js';
export type * from './control-types.js';
