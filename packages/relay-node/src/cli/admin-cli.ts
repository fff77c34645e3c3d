import { parseArgs } from 'node:util';

/** `pnpm relay admin ...`: the admin API's commands, as listed in the CLI's usage. */
export const ADMIN_USAGE = `  admin nodes                        live nodes, their gateway counts and gateway ids
  admin gateway <gateway_id>         where a gateway is connected (node, since, dialect, delivery), bindings, backlog
  admin bindings <gateway_id>        the users bound to a gateway
  admin backlog <gateway_id>         queue depth and age of the oldest waiting event
  admin unbind-user <external_userid>      remove one user's binding
  admin unbind-gateway <gateway_id>        remove every binding of a gateway (ends those users' WeCom sessions)
  admin redeliver <gateway_id> [--after <delivery_id>]
                                     ack-mode gateway: send again every waiting event after the id
                                     (default: after the last acknowledged one)
  admin drain <node_id>              hand a node's gateways to the others (1012) and stop it
    options: --url http://127.0.0.1:9465 (or RELAY_ADMIN_URL; default from ADMIN_HOST/ADMIN_PORT)
    the bearer token is read from RELAY_ADMIN_TOKEN (or ADMIN_TOKEN), never from the command line`;

type Request = { method: 'GET' | 'POST' | 'DELETE'; path: string; body?: unknown };

const seg = encodeURIComponent;

/** The HTTP request a subcommand stands for, or null when the arguments do not fit. */
function requestFor(command: string | undefined, args: string[], after: string | undefined): Request | null {
  const [id, extra] = args;
  if (command === 'nodes' && args.length === 0) return { method: 'GET', path: '/v1/nodes' };
  if (!id || extra !== undefined) return null;
  switch (command) {
    case 'gateway':
      return { method: 'GET', path: `/v1/gateways/${seg(id)}` };
    case 'bindings':
      return { method: 'GET', path: `/v1/gateways/${seg(id)}/bindings` };
    case 'backlog':
      return { method: 'GET', path: `/v1/gateways/${seg(id)}/backlog` };
    case 'unbind-user':
      return { method: 'DELETE', path: `/v1/users/${seg(id)}/binding` };
    case 'unbind-gateway':
      return { method: 'DELETE', path: `/v1/gateways/${seg(id)}/bindings` };
    case 'redeliver':
      return { method: 'POST', path: `/v1/gateways/${seg(id)}/redeliver`, body: { after: after ?? null } };
    case 'drain':
      return { method: 'POST', path: `/v1/nodes/${seg(id)}/drain`, body: {} };
    default:
      return null;
  }
}

/**
 * Runs one admin command against a node's admin port and prints the JSON answer. Exit codes: 0 done, 64 usage,
 * 77 refused (no or wrong token), 69 node unreachable, 1 any other error (its code and message on stderr).
 */
export async function runAdminCli(argv: string[], env: (name: string) => string | undefined): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { url: { type: 'string' }, after: { type: 'string' } } });
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\nusage:\n${ADMIN_USAGE}\n`);
    return 64;
  }
  const [command, ...rest] = parsed.positionals;
  const request = requestFor(command, rest, parsed.values.after);
  if (request === null || (parsed.values.after !== undefined && command !== 'redeliver')) {
    process.stderr.write(`usage:\n${ADMIN_USAGE}\n`);
    return 64;
  }
  const token = env('RELAY_ADMIN_TOKEN') ?? env('ADMIN_TOKEN');
  if (!token) {
    process.stderr.write('set RELAY_ADMIN_TOKEN (or ADMIN_TOKEN) to an admin token of the node\n');
    return 77;
  }
  const host = env('ADMIN_HOST') ?? '127.0.0.1';
  const base = (parsed.values.url ?? env('RELAY_ADMIN_URL') ?? `http://${host.includes(':') ? `[${host}]` : host}:${env('ADMIN_PORT') ?? '9465'}`).replace(/\/+$/, '');
  let res: Response;
  try {
    res = await fetch(`${base}${request.path}`, {
      method: request.method,
      headers: { authorization: `Bearer ${token}`, ...(request.body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: request.body === undefined ? undefined : JSON.stringify(request.body),
      signal: AbortSignal.timeout(15_000),
    });
  } catch (err) {
    process.stderr.write(`could not reach the admin API at ${base}: ${(err as Error).message}\n`);
    return 69;
  }
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: printed as it came
  }
  if (res.ok) {
    process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
    return 0;
  }
  const e = body as { code?: string; message?: string };
  process.stderr.write(`${e.code ?? res.status}: ${e.message ?? text}\n`);
  return res.status === 401 ? 77 : 1;
}
