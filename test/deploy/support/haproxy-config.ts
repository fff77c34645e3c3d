/** One section of an haproxy configuration (global, defaults, frontend, backend, resolvers, ...). */
export interface HaproxySection {
  type: string;
  name: string;
  /** Directive lines, comments and blank lines removed, whitespace collapsed. */
  lines: string[];
}

const SECTION_TYPES = new Set(['global', 'defaults', 'frontend', 'backend', 'listen', 'resolvers', 'peers', 'userlist', 'program', 'http-errors', 'ring', 'cache', 'mailers']);

/** Splits an haproxy.cfg into its sections, so checks can read what each frontend and backend does. */
export function parseHaproxyConfig(text: string): HaproxySection[] {
  const sections: HaproxySection[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/(^|\s)#.*$/, '').trim().replace(/\s+/g, ' ');
    if (!line) continue;
    const [first = '', second = ''] = line.split(' ');
    if (SECTION_TYPES.has(first)) {
      sections.push({ type: first, name: second, lines: [] });
      continue;
    }
    const current = sections[sections.length - 1];
    if (!current) throw new Error(`haproxy.cfg: directive outside any section: ${line}`);
    current.lines.push(line);
  }
  return sections;
}

/** The section of this type and name; throws naming what is missing. */
export function haproxySection(sections: readonly HaproxySection[], type: string, name: string): HaproxySection {
  const found = sections.find((s) => s.type === type && s.name === name);
  if (!found) throw new Error(`haproxy.cfg has no ${type} ${name}`);
  return found;
}

/** The `server NAME ADDRESS ...` lines of a backend, split into name, host, port and the remaining options. */
export function haproxyServers(section: HaproxySection): { name: string; host: string; port: number; options: string[] }[] {
  return section.lines
    .filter((l) => l.startsWith('server '))
    .map((l) => {
      const [, name = '', address = '', ...options] = l.split(' ');
      const colon = address.lastIndexOf(':');
      return { name, host: address.slice(0, colon), port: Number(address.slice(colon + 1)), options };
    });
}
