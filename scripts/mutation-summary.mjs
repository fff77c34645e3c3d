// Prints a markdown summary of the committed incremental mutation results (reports/stryker-incremental/*.json):
// score per scope and file, and every mutant that survived or had no covering test.
// Usage: node scripts/mutation-summary.mjs [--survivors]
import { readFileSync, readdirSync } from 'node:fs';

const dir = new URL('../reports/stryker-incremental/', import.meta.url);
const showSurvivors = process.argv.includes('--survivors');
const detected = new Set(['Killed', 'Timeout']);
const undetected = new Set(['Survived', 'NoCoverage']);

const rows = [];
const survivors = [];
for (const name of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
  const report = JSON.parse(readFileSync(new URL(name, dir), 'utf8'));
  const scope = name.replace(/\.json$/, '');
  let scopeKilled = 0;
  let scopeValid = 0;
  for (const [file, { mutants, source }] of Object.entries(report.files)) {
    const lines = source.split('\n');
    const killed = mutants.filter((m) => detected.has(m.status)).length;
    const valid = killed + mutants.filter((m) => undetected.has(m.status)).length;
    scopeKilled += killed;
    scopeValid += valid;
    rows.push(`| ${scope} | ${file} | ${valid} | ${killed} | ${valid - killed} | ${valid ? ((100 * killed) / valid).toFixed(1) : '-'} % |`);
    for (const m of mutants.filter((x) => undetected.has(x.status))) {
      const line = m.location.start.line;
      survivors.push(`- ${scope} ${file}:${line} ${m.mutatorName} (${m.status}): \`${lines[line - 1]?.trim().slice(0, 90)}\` → \`${String(m.replacement ?? '').replace(/\s+/g, ' ').slice(0, 70)}\``);
    }
  }
  rows.push(`| **${scope}** | all | ${scopeValid} | ${scopeKilled} | ${scopeValid - scopeKilled} | **${scopeValid ? ((100 * scopeKilled) / scopeValid).toFixed(1) : '-'} %** |`);
}
console.log('| scope | file | mutants | killed | survived | score |\n|---|---|---:|---:|---:|---:|');
console.log(rows.join('\n'));
if (showSurvivors) console.log(`\n${survivors.join('\n')}`);
