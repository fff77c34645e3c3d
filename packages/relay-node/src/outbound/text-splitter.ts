/**
 * Splits a long text reply into parts WeCom accepts (kf/send_msg text is limited in UTF-8 bytes). Parts end at
 * grapheme boundaries, so no UTF-8 sequence, surrogate pair or combined character (emoji with modifiers, a letter
 * with its accents) is ever cut; a cut prefers a line break, then the end of a sentence, then a space.
 */

/** Characters after which a sentence ends, in Chinese and Latin punctuation. */
const SENTENCE_ENDS = new Set(['。', '！', '？', '；', '…', '.', '!', '?', ';', '．', '｡']);
/**
 * A preferred break is used only when it keeps at least this share of the part's budget; otherwise the part is
 * filled to the limit, so a text with few breaks does not become many small messages (each counts against
 * WeCom's 5-message window).
 */
const MIN_FILL = 0.5;

const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/** Break preference of the position just after a grapheme: 3 line break, 2 sentence end, 1 space, 0 none. */
function breakRank(grapheme: string): number {
  if (grapheme.includes('\n')) return 3;
  if (SENTENCE_ENDS.has(grapheme)) return 2;
  if (/^\s+$/u.test(grapheme)) return 1;
  return 0;
}

/** Splits `content` into parts of at most `maxBytes` UTF-8 bytes each, in order; joined they equal `content`. */
export function splitText(content: string, maxBytes: number): string[] {
  if (maxBytes < 4) throw new RangeError('maxBytes must be at least 4 (one UTF-8 code point)');
  if (Buffer.byteLength(content, 'utf8') <= maxBytes) return [content];
  const parts: string[] = [];
  let start = 0; // string index where the current part starts
  let bytes = 0; // bytes of the current part so far
  // Best break seen in the current part, by rank: the string index just after it, and the bytes up to there.
  const best: Array<{ end: number; bytes: number } | undefined> = [];
  for (const { segment, index } of segmenter.segment(content)) {
    const size = Buffer.byteLength(segment, 'utf8');
    if (size > maxBytes) {
      // One grapheme over the limit (an absurd run of combining marks): cut it between code points instead.
      if (index > start) parts.push(content.slice(start, index));
      parts.push(...splitCodePoints(segment, maxBytes));
      start = index + segment.length;
      bytes = 0;
      best.length = 0;
      continue;
    }
    if (bytes + size > maxBytes) {
      const cut = chooseCut(best, index, bytes, maxBytes);
      parts.push(content.slice(start, cut.end));
      start = cut.end;
      bytes -= cut.bytes;
      // Breaks after the cut now belong to the next part.
      for (let rank = 1; rank <= 3; rank++) {
        const b = best[rank];
        best[rank] = b && b.end > cut.end ? { end: b.end, bytes: b.bytes - cut.bytes } : undefined;
      }
    }
    bytes += size;
    const rank = breakRank(segment);
    if (rank > 0) best[rank] = { end: index + segment.length, bytes };
    // Spaces right after a sentence end stay with that sentence, so the next part does not start with one.
    if (rank === 1 && best[2]?.end === index) best[2] = { end: index + segment.length, bytes };
  }
  if (start < content.length) parts.push(content.slice(start));
  return parts;
}

function chooseCut(
  best: Array<{ end: number; bytes: number } | undefined>,
  here: number,
  bytes: number,
  maxBytes: number,
): { end: number; bytes: number } {
  for (let rank = 3; rank >= 1; rank--) {
    const candidate = best[rank];
    if (candidate && candidate.bytes >= maxBytes * MIN_FILL) return candidate;
  }
  return { end: here, bytes };
}

function splitCodePoints(segment: string, maxBytes: number): string[] {
  const pieces: string[] = [];
  let piece = '';
  for (const cp of segment) {
    if (Buffer.byteLength(piece + cp, 'utf8') > maxBytes) {
      pieces.push(piece);
      piece = '';
    }
    piece += cp;
  }
  if (piece) pieces.push(piece);
  return pieces;
}
