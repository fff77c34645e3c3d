import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { envSchema } from '../../src/config/config-schema.js';

const readme = readFileSync(new URL('../../../../README.md', import.meta.url), 'utf8');

/** Defaults the README states in words because they are computed, not constants of the schema. */
const COMPUTED = new Set(['BINDINGS_STORE', 'NODE_ID']);

/** The configuration table as [variable, default cell] pairs; `A` / `B` rows are split into one pair each. */
function documentedDefaults(): Map<string, string> {
  const section = readme.slice(readme.indexOf('## Configuration'));
  const rows = section.slice(0, section.indexOf('\n## ')).split('\n').filter((l) => l.startsWith('| `'));
  const out = new Map<string, string>();
  for (const row of rows) {
    const [names, defaults] = row.split(' | ').map((c) => c.replace(/^\| /, '').trim());
    const nameList = names!.split(' / ').map((n) => n.replace(/`/g, ''));
    const defaultList = nameList.length > 1 ? defaults!.split(' / ') : [defaults!];
    expect(defaultList, `README row for ${names} needs one default per variable`).toHaveLength(nameList.length);
    nameList.forEach((n, i) => out.set(n, defaultList[i]!.trim()));
  }
  return out;
}

const UNITS: Record<string, number> = { second: 1_000, minute: 60_000, hour: 3_600_000, day: 86_400_000 };

/** What a README default cell means as a value: a number, boolean, string, 'required' or undefined (—). */
function meaning(cell: string): unknown {
  if (cell === 'required') return 'required';
  if (cell === '—') return undefined;
  const duration = /^(\d+) (second|minute|hour|day)s?$/.exec(cell);
  if (duration) return Number(duration[1]) * UNITS[duration[2]!]!;
  const literal = /^`([^`]*)`$/.exec(cell);
  expect(literal, `README default "${cell}" is neither a \`value\`, a duration, "required" nor "—"`).not.toBeNull();
  const text = literal![1]!;
  if (/^\d+$/.test(text)) return Number(text);
  if (text === 'true' || text === 'false') return text === 'true';
  return text;
}

/** What the schema does with the variable unset: its default, 'required' when it refuses, undefined when optional. */
function schemaDefault(name: string): unknown {
  const field = (envSchema.shape as Record<string, { safeParse(v: unknown): { success: boolean; data?: unknown } }>)[name]!;
  const parsed = field.safeParse(undefined);
  if (!parsed.success) return 'required';
  return Array.isArray(parsed.data) && parsed.data.length === 0 ? undefined : parsed.data;
}

describe('README configuration table', () => {
  it('documents every variable the node reads', () => {
    const undocumented = Object.keys(envSchema.shape).filter((name) => !readme.includes(`\`${name}\``));
    expect(undocumented).toEqual([]);
  });

  it("states each variable's default as the schema applies it, by value", () => {
    const documented = documentedDefaults();
    const mismatches: string[] = [];
    for (const name of Object.keys(envSchema.shape)) {
      if (COMPUTED.has(name)) continue;
      expect(documented.has(name), `${name} has no row in the configuration table`).toBe(true);
      const readmeValue = meaning(documented.get(name)!);
      const schemaValue = schemaDefault(name);
      if (readmeValue !== schemaValue) mismatches.push(`${name}: README ${String(readmeValue)}, schema ${String(schemaValue)}`);
    }
    expect(mismatches).toEqual([]);
  });
});
