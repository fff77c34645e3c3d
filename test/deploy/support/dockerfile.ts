/** One instruction of a Dockerfile, continuation lines joined. */
export interface DockerInstruction {
  keyword: string;
  args: string;
}

/** One build stage: its base image (ARG defaults substituted), its alias, and its instructions. */
export interface DockerStage {
  from: string;
  alias?: string;
  instructions: DockerInstruction[];
}

/**
 * Reads a Dockerfile into stages, as far as these checks need: comments and parser directives dropped,
 * backslash continuations joined, and `${ARG}` in FROM replaced by the ARG's default.
 */
export function parseDockerfile(text: string): DockerStage[] {
  const logical: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#')) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1).trim()} `;
      continue;
    }
    const joined = (pending + line).trim();
    pending = '';
    if (joined) logical.push(joined);
  }
  if (pending.trim()) logical.push(pending.trim());

  const args = new Map<string, string>();
  const stages: DockerStage[] = [];
  for (const line of logical) {
    const space = line.indexOf(' ');
    const keyword = (space < 0 ? line : line.slice(0, space)).toUpperCase();
    const rest = space < 0 ? '' : line.slice(space + 1).trim();
    if (keyword === 'ARG' && stages.length === 0) {
      const [name = '', value = ''] = rest.split('=');
      args.set(name, value);
      continue;
    }
    if (keyword === 'FROM') {
      const [image = '', as, alias] = rest.replace(/--platform=\S+\s+/, '').split(/\s+/);
      const from = image.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a?: string, b?: string) => args.get(a ?? b ?? '') ?? '');
      stages.push({ from, ...(as?.toUpperCase() === 'AS' && alias ? { alias } : {}), instructions: [] });
      continue;
    }
    const stage = stages[stages.length - 1];
    if (!stage) throw new Error(`Dockerfile: ${keyword} before the first FROM`);
    stage.instructions.push({ keyword, args: rest });
  }
  return stages;
}

/** The arguments of every instruction with this keyword in a stage. */
export function instructionArgs(stage: DockerStage, keyword: string): string[] {
  return stage.instructions.filter((i) => i.keyword === keyword).map((i) => i.args);
}

/** An exec-form (JSON array) argument list; throws for shell form, which would put /bin/sh between Docker and node. */
export function execForm(args: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(args);
  } catch {
    parsed = undefined;
  }
  if (!Array.isArray(parsed) || !parsed.every((a): a is string => typeof a === 'string')) {
    throw new Error(`not an exec-form argument list: ${args}`);
  }
  return parsed;
}

/** `KEY=value` pairs of ENV instructions (unquoted values, as this Dockerfile writes them), later ones winning. */
export function stageEnv(stage: DockerStage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const args of instructionArgs(stage, 'ENV')) {
    for (const pair of args.split(/\s+/)) {
      const eq = pair.indexOf('=');
      if (eq > 0) env[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
  }
  return env;
}

/** The working directory a stage's final command runs in (the last WORKDIR, resolved against earlier ones). */
export function stageWorkdir(stage: DockerStage): string {
  let dir = '/';
  for (const args of instructionArgs(stage, 'WORKDIR')) {
    dir = args.startsWith('/') ? args : `${dir.replace(/\/$/, '')}/${args}`;
  }
  return dir;
}
