/**
 * A horizontal bar chart of relay/peer ratios on a log scale (1× in the middle), hand-written SVG: a few dozen lines
 * do not earn a charting dependency.
 */
import { formatRatio, type FigureLine } from './figures.js';

const escape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The chart of every figure that has a ratio; lower-is-better and higher-is-better both read off the same axis. */
export function ratioChart(lines: readonly FigureLine[], title: string): string {
  const rows = lines.filter((f) => f.ratio !== null && f.ratio > 0);
  const labelW = 380;
  const plotW = 420;
  const rowH = 20;
  const top = 40;
  const height = top + rows.length * rowH + 30;
  // Decades from 1/100× to 100×, clamped.
  const span = 2;
  const x = (r: number): number => labelW + ((Math.max(-span, Math.min(span, Math.log10(r))) + span) / (2 * span)) * plotW;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${labelW + plotW + 70}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="8" y="18" font-size="13" font-weight="bold">${escape(title)}</text>`,
    `<text x="${labelW}" y="32" fill="#555">relay ÷ Socket.IO peer (log scale; green: target met, red: not met, grey: no target)</text>`,
  ];
  for (const tick of [0.01, 0.1, 1, 10, 100]) {
    const tx = x(tick);
    out.push(`<line x1="${tx}" y1="${top - 4}" x2="${tx}" y2="${height - 24}" stroke="${tick === 1 ? '#000' : '#ddd'}"/>`);
    out.push(`<text x="${tx}" y="${height - 10}" text-anchor="middle" fill="#555">${tick}×</text>`);
  }
  rows.forEach((f, i) => {
    const y = top + i * rowH;
    const r = f.ratio!;
    const x0 = x(1);
    const x1 = x(r);
    const color = f.met === null ? '#999' : f.met ? '#2a9d3a' : '#d03030';
    out.push(`<text x="${labelW - 6}" y="${y + 13}" text-anchor="end">${escape(`${f.scenario}: ${f.metric}`.slice(0, 64))}</text>`);
    out.push(`<rect x="${Math.min(x0, x1)}" y="${y + 3}" width="${Math.max(1, Math.abs(x1 - x0))}" height="${rowH - 6}" fill="${color}"/>`);
    out.push(`<text x="${Math.max(x0, x1) + 4}" y="${y + 13}">${escape(formatRatio(r))}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}
