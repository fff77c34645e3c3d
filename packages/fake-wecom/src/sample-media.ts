/** An 8×8 RGB PNG, what a customer's "image" carries when a test gives no bytes. */
export const SAMPLE_PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAAbUlEQVR42hXOUREAUQhCUaMYhShEMcqNQhSi7Fs/OQzjzLCDBg83MGToMLPsosXLLSxZug/ECgmLE4iI6oFZI2NzBhNTPzj20OHjDo4cvQf/7Bt41Rf+F+h7YsIGBYfLHyc0D8oWFZfrX05p+QDeqGABtJu0bQAAAABJRU5ErkJggg==',
  'base64',
);

/** AMR-NB: the "#!AMR\n" magic then ten 12.2 kbit/s frames of silence; kf voice arrives as AMR by default (§3.5). */
export const SAMPLE_AMR = Buffer.concat([
  Buffer.from('#!AMR\n', 'latin1'),
  ...Array.from({ length: 10 }, () => Buffer.concat([Buffer.from([0x3c]), Buffer.alloc(31)])),
]);

/** A few bytes standing in for an MP4 (ftyp box header) when a test gives none. */
export const SAMPLE_MP4 = Buffer.concat([
  Buffer.from([0, 0, 0, 0x18]),
  Buffer.from('ftypisom', 'latin1'),
  Buffer.alloc(12),
]);

/** Default bytes and mime for customer media of each msgtype. */
export function sampleMedia(msgtype: string): { data: Buffer; mime: string } {
  switch (msgtype) {
    case 'image':
      return { data: SAMPLE_PNG, mime: 'image/png' };
    case 'voice':
      return { data: SAMPLE_AMR, mime: 'voice/amr' };
    case 'video':
      return { data: SAMPLE_MP4, mime: 'video/mp4' };
    default:
      return { data: Buffer.from('fake-wecom sample file\n', 'utf8'), mime: 'application/octet-stream' };
  }
}

/** The file type an upload's bytes really are, judged by magic numbers. */
export function sniffMediaKind(data: Buffer): 'jpeg' | 'png' | 'amr' | 'other' {
  if (data.length >= 3 && data[0] === 0xff && data[1] === 0xd8 && data[2] === 0xff) return 'jpeg';
  if (data.length >= 8 && data.subarray(0, 8).equals(SAMPLE_PNG.subarray(0, 8))) return 'png';
  if (data.length >= 6 && data.subarray(0, 6).toString('latin1') === '#!AMR\n') return 'amr';
  return 'other';
}
