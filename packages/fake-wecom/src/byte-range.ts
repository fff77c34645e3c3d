/** One inclusive byte range of a file, as in `Content-Range: bytes first-last/size`. */
export interface ByteRange {
  first: number;
  last: number;
}

/** What a Range header asks of a file of a given size. */
export type RangeRequest =
  /** No Range, or one the server may ignore (malformed, several ranges): answer with the whole file. */
  | { kind: 'whole' }
  | { kind: 'slice'; range: ByteRange }
  /** Starts past the end of the file: answer 416. */
  | { kind: 'unsatisfiable' };

const SINGLE_RANGE = /^bytes=(\d*)-(\d*)$/i;

/**
 * Reads a Range header the way RFC 9110 §14 lets a server: `bytes=a-b`, `bytes=a-` and `bytes=-n` are served,
 * a last position past the end is cut to the end, and anything else (syntax errors, several ranges) is ignored.
 */
export function parseRangeHeader(header: string | undefined, size: number): RangeRequest {
  if (header === undefined) return { kind: 'whole' };
  const m = SINGLE_RANGE.exec(header.trim());
  if (!m) return { kind: 'whole' };
  const [, from = '', to = ''] = m;
  if (from === '' && to === '') return { kind: 'whole' };
  if (from === '') {
    // Suffix form: the last n bytes.
    const n = Number(to);
    if (!Number.isSafeInteger(n)) return { kind: 'whole' };
    if (n === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'slice', range: { first: Math.max(0, size - n), last: size - 1 } };
  }
  const first = Number(from);
  const last = to === '' ? Number.MAX_SAFE_INTEGER : Number(to);
  if (!Number.isSafeInteger(first) || !Number.isSafeInteger(last) || last < first) return { kind: 'whole' };
  if (first >= size) return { kind: 'unsatisfiable' };
  return { kind: 'slice', range: { first, last: Math.min(last, size - 1) } };
}
