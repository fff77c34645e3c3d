import { describe, expect, it } from 'vitest';
import { splitText } from '../../src/outbound/text-splitter.js';

const bytes = (s: string): number => Buffer.byteLength(s, 'utf8');
/** No lone surrogate: a cut inside a surrogate pair leaves one. */
const wellFormed = (s: string): boolean => !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);

/** Every part within the limit, none empty, each valid UTF-16 (no lone surrogate) and the whole text kept. */
function expectWellFormed(parts: string[], original: string, max: number): void {
  expect(parts.join('')).toBe(original);
  for (const part of parts) {
    expect(part.length).toBeGreaterThan(0);
    expect(bytes(part)).toBeLessThanOrEqual(max);
    expect(wellFormed(part)).toBe(true);
    // A cut inside a UTF-8 sequence would not survive a round trip through bytes.
    expect(Buffer.from(part, 'utf8').toString('utf8')).toBe(part);
  }
}

describe('splitText', () => {
  it('leaves a text within the limit whole', () => {
    expect(splitText('hello', 2048)).toEqual(['hello']);
    expect(splitText('好'.repeat(682), 2048)).toEqual(['好'.repeat(682)]);
  });

  it('splits 5,000 bytes of Chinese into parts of at most 2048 bytes without cutting a character', () => {
    const text = '中文回复测试'.repeat(278); // 18 bytes each: 5,004 bytes
    const parts = splitText(text, 2048);
    expectWellFormed(parts, text, 2048);
    expect(parts.length).toBe(3);
  });

  it('never cuts a 3-byte character at an odd limit', () => {
    const text = '好'.repeat(100);
    for (const max of [4, 5, 7, 100, 101]) {
      const parts = splitText(text, max);
      expectWellFormed(parts, text, max);
      for (const part of parts) expect(part).toMatch(/^好+$/);
    }
  });

  it('keeps surrogate pairs and emoji sequences (ZWJ families, skin tones, flags) whole', () => {
    const emoji = ['😀', '👍🏽', '👨‍👩‍👧‍👦', '🇨🇳', 'é'];
    const text = Array.from({ length: 300 }, (_, i) => emoji[i % emoji.length]).join('');
    const parts = splitText(text, 64);
    expectWellFormed(parts, text, 64);
    for (const part of parts) {
      const graphemes = [...new Intl.Segmenter(undefined, { granularity: 'grapheme' }).segment(part)].map((g) => g.segment);
      for (const g of graphemes) expect(emoji).toContain(g);
    }
  });

  it('prefers a line break, then a sentence end, then a space', () => {
    const line = `${'a'.repeat(60)}\n${'b'.repeat(30)}. ${'c'.repeat(20)}`;
    expect(splitText(line, 100)[0]).toBe(`${'a'.repeat(60)}\n`);
    const sentence = `${'a'.repeat(60)}. ${'b'.repeat(20)} ${'c'.repeat(30)}`;
    expect(splitText(sentence, 100)[0]).toBe(`${'a'.repeat(60)}. `);
    const chinese = `${'好'.repeat(20)}。${'好'.repeat(20)}`; // 3 bytes each
    expect(splitText(chinese, 100)[0]).toBe(`${'好'.repeat(20)}。`);
    const words = `${'a'.repeat(70)} ${'b'.repeat(70)}`;
    expect(splitText(words, 100)).toEqual([`${'a'.repeat(70)} `, 'b'.repeat(70)]);
  });

  it('does not cut at a break so early that parts become tiny; fills the part instead', () => {
    const text = `a\n${'b'.repeat(300)}`;
    const parts = splitText(text, 100);
    expectWellFormed(parts, text, 100);
    expect(bytes(parts[0]!)).toBe(100);
  });

  it('cuts one absurdly long grapheme (a letter with hundreds of combining marks) between code points', () => {
    const zalgo = `x${'\u0301'.repeat(200)}`; // one grapheme of 401 bytes
    const text = `ok ${zalgo} end`;
    const parts = splitText(text, 100);
    expect(parts.join('')).toBe(text);
    for (const part of parts) {
      expect(bytes(part)).toBeLessThanOrEqual(100);
      expect(wellFormed(part)).toBe(true);
    }
  });

  it('handles a long text of mixed scripts and breaks at every size', () => {
    const text = 'Hello, 世界! 这是一个测试。\nLine two 👍🏽 with emoji; and more text? 好的！'.repeat(120);
    for (const max of [16, 33, 256, 2048]) expectWellFormed(splitText(text, max), text, max);
  });
});
