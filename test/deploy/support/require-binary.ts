import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Raised when a tool the deployment checks depend on is not installed; never turned into a skip. */
export class MissingBinaryError extends Error {
  /** Stable code for callers that tell this apart from a failing check. */
  readonly code = 'MISSING_BINARY';

  constructor(name: string, howToInstall: string) {
    super(`${name} is not on PATH, so the deployment files cannot be checked: ${howToInstall}`);
    this.name = 'MissingBinaryError';
  }
}

/**
 * The absolute path of an executable on PATH. Throws MissingBinaryError (with how to install it) when absent,
 * so a machine without the tool fails loudly instead of silently checking less.
 */
export function requireBinary(name: string, howToInstall: string): string {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  throw new MissingBinaryError(name, howToInstall);
}
