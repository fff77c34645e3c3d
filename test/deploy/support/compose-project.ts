import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireBinary } from './require-binary.js';
import { runTool } from './run-tool.js';
import { parseYamlDocuments } from './yaml-documents.js';

/** A bind or named volume of a service, whichever syntax compose printed it in. */
export interface ComposeMount {
  source: string;
  target: string;
}

/** The parts of a resolved service the deployment checks read. */
export interface ComposeService {
  image?: string;
  command?: string[] | string;
  environment?: Record<string, string | null>;
  healthcheck?: { test?: string[] | string; disable?: boolean };
  stop_grace_period?: string;
  stop_signal?: string;
  volumes?: (string | { source?: string; target: string })[];
  ports?: (string | { published?: number | string; target: number | string })[];
  depends_on?: Record<string, { condition?: string }> | string[];
  networks?: Record<string, { ipv4_address?: string } | null> | string[];
  read_only?: boolean;
  tmpfs?: string[] | string;
}

/** A compose file after docker-compose resolved anchors, merges, env_file and interpolation. */
export interface ComposeProject {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
  networks?: Record<string, unknown>;
}

/** Normalizes compose's short ("src:dst:mode") and long volume syntax. */
export function composeMounts(service: ComposeService): ComposeMount[] {
  return (service.volumes ?? []).map((volume) => {
    if (typeof volume !== 'string') return { source: volume.source ?? '', target: volume.target };
    const [source = '', target = ''] = volume.split(':');
    return { source, target };
  });
}

/** The container ports a service publishes on the host. */
export function composePublishedPorts(service: ComposeService): number[] {
  return (service.ports ?? []).map((port) => {
    if (typeof port !== 'string') return Number(port.published);
    const parts = port.split(':');
    return Number(parts.length > 1 ? parts[parts.length - 2] : parts[0]);
  });
}

/**
 * A scratch copy of deploy/compose with `.env` made from `.env.example`, as an operator would have it, so
 * docker-compose can read the files without anything being written into the repository.
 */
export class ComposeWorkspace {
  /** The scratch directory holding the copy. */
  readonly dir: string;
  private readonly binary: string;

  constructor(composeDir: string) {
    this.binary = requireBinary('docker-compose', "apt-get install docker-compose (Debian's package; .ci/run installs it)");
    this.dir = mkdtempSync(join(tmpdir(), 'deploy-compose-'));
    cpSync(composeDir, this.dir, { recursive: true });
    cpSync(join(this.dir, '.env.example'), join(this.dir, '.env'));
  }

  /** `docker-compose -f FILE config -q`: throws with compose's complaint when the file is invalid. */
  validate(file: string): void {
    runTool(this.binary, ['-f', file, 'config', '-q'], { cwd: this.dir });
  }

  /** `docker-compose -f FILE config`, parsed: the project exactly as compose would run it. */
  resolve(file: string): ComposeProject {
    const { stdout } = runTool(this.binary, ['-f', file, 'config'], { cwd: this.dir });
    const [project] = parseYamlDocuments(stdout, `docker-compose -f ${file} config`);
    if (typeof project !== 'object' || project === null || !('services' in project)) {
      throw new Error(`docker-compose -f ${file} config printed no services`);
    }
    return project as ComposeProject;
  }

  /** Removes the scratch copy. */
  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Seconds in a compose duration such as "30s", "1m30s" or "1500ms". */
export function composeDurationSeconds(value: string): number {
  const parts = [...value.matchAll(/(\d+(?:\.\d+)?)(ms|us|h|m|s)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== value) throw new Error(`not a compose duration: ${value}`);
  const unit: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 0.001, us: 0.000001 };
  return parts.reduce((sum, [, amount = '0', u = 's']) => sum + Number(amount) * (unit[u] ?? 0), 0);
}
