import { parseAllDocuments } from 'yaml';

/** Parses every document of a YAML stream; throws with the source name and the parser's message on any error. */
export function parseYamlDocuments(text: string, source: string): unknown[] {
  const values: unknown[] = [];
  for (const doc of parseAllDocuments(text)) {
    const problem = doc.errors[0];
    if (problem) throw new Error(`${source}: ${problem.message}`);
    const value: unknown = doc.toJS();
    if (value !== null && value !== undefined) values.push(value);
  }
  return values;
}
