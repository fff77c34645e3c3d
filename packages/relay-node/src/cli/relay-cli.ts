import { existsSync, readFileSync } from 'node:fs';
import { parseArgs, parseEnv } from 'node:util';
import { gatewayAuthToken } from '@wecom-relay/shared';
import { copyBindings, openBindingStore } from './binding-transfer.js';
import { ADMIN_USAGE, runAdminCli } from './admin-cli.js';
import { migrateSqliteToRedis } from './state-migration.js';
import { isRedisLocation } from './redis-location.js';

const USAGE = `usage: pnpm relay <command>   (pnpm relay --help prints this)

  token <gateway_id>                 print the auth_token a gateway sends in hello
                                     (HMAC-SHA256 of the gateway id with RELAY_AUTH_SECRET)
  bindings copy <from> <to>          copy every binding, e.g. from the single-node database into Redis:
                                       pnpm relay bindings copy sqlite:./data/relay.db redis://127.0.0.1:6379
                                     and back: pnpm relay bindings copy redis://... sqlite:./backup.db
                                     a Redis Cluster by its seed nodes: redis-cluster://host:port,host:port
  bindings list <store>              print every binding as "external_userid<TAB>gateway_id"
  migrate sqlite:<file> <redis> [--open-kfid <open_kfid>[,<open_kfid>...]]
                                     move a single-node database (this relay's or the deployed relay's, read
                                     only) into a cluster's Redis (redis://host:port, or a Redis Cluster by its
                                     seed nodes: redis-cluster://host:port,host:port): bindings with their kf
                                     account, live pending tokens and each listed account's sync cursor (the
                                     deployed relay's is the first account's); run it before the nodes start
${ADMIN_USAGE}

RELAY_AUTH_SECRET, REDIS_KEY_PREFIX (default wr:), REDIS_PASSWORD (for a Redis Cluster) and WECOM_OPEN_KFID (for migrate) are read from the environment
or .env.`;

/** Operator commands: gateway tokens and moving bindings between SQLite and Redis. */
async function main(argv: string[]): Promise<number> {
  const [cmd, ...args] = argv;
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return cmd === undefined ? 64 : 0;
  }
  if (cmd === 'admin') return runAdminCli(args, (name) => process.env[name] ?? fromEnvFile(name));
  if (cmd === 'token' && args.length === 1) {
    const secret = process.env.RELAY_AUTH_SECRET ?? fromEnvFile('RELAY_AUTH_SECRET');
    if (!secret || secret.length < 16) {
      process.stderr.write('RELAY_AUTH_SECRET must be set (at least 16 characters), in the environment or .env\n');
      return 78;
    }
    process.stdout.write(`${gatewayAuthToken(secret, args[0]!)}\n`);
    return 0;
  }
  if (cmd === 'bindings' && args[0] === 'copy' && args.length === 3) {
    const prefix = keyPrefix();
    const from = await openBindingStore(args[1]!, prefix);
    const to = await openBindingStore(args[2]!, prefix);
    try {
      const n = await copyBindings(from.store, to.store);
      process.stdout.write(`copied ${n} bindings from ${redact(args[1]!)} to ${redact(args[2]!)}\n`);
      return 0;
    } finally {
      await from.close();
      await to.close();
    }
  }
  if (cmd === 'bindings' && args[0] === 'list' && args.length === 2) {
    const from = await openBindingStore(args[1]!, keyPrefix());
    try {
      for await (const [user, gateway] of from.store.entries()) process.stdout.write(`${user}\t${gateway}\n`);
      return 0;
    } finally {
      await from.close();
    }
  }
  if (cmd === 'migrate') return migrate(args);
  process.stderr.write(`${USAGE}\n`);
  return 64;
}

/** `migrate sqlite:<file> <redis-url> [--open-kfid X[,Y...]]`. */
async function migrate(args: string[]): Promise<number> {
  const { positionals, values } = parseArgs({ args, options: { 'open-kfid': { type: 'string' } }, allowPositionals: true, strict: true });
  const [from, to] = positionals;
  if (positionals.length !== 2 || !from?.startsWith('sqlite:') || !isRedisLocation(to ?? '')) {
    process.stderr.write(`${USAGE}\n`);
    return 64;
  }
  // Every account's cursor is carried; the deployed relay served one, so its cursor belongs to the first (the default).
  const listed = values['open-kfid'] ?? process.env.WECOM_OPEN_KFID ?? fromEnvFile('WECOM_OPEN_KFID') ?? '';
  const openKfids = [...new Set(listed.split(',').map((id) => id.trim()).filter((id) => id !== ''))];
  if (openKfids.length === 0) {
    process.stderr.write('the kf accounts whose sync cursors are moved are needed: --open-kfid <open_kfid>[,...] or WECOM_OPEN_KFID\n');
    return 78;
  }
  const report = await migrateSqliteToRedis({ sqlitePath: from.slice('sqlite:'.length), redisUrl: to!, prefix: keyPrefix(), openKfids });
  process.stdout.write(
    `migrated ${report.source === 'deployed' ? "the deployed relay's" : 'a single-node'} database to ${redact(to!)}: ` +
      `${report.bindings} bindings, ${report.pendingTokens} pending tokens (${report.expiredTokensDropped} expired left out), ` +
      `${report.cursors.map((c) => `sync cursor of ${c.openKfid}: ${c.cursor}`).join(', ')}\n`,
  );
  return 0;
}

/** The Redis key prefix the relay nodes use (REDIS_KEY_PREFIX), so copies land where the nodes look. */
function keyPrefix(): string {
  return process.env.REDIS_KEY_PREFIX ?? fromEnvFile('REDIS_KEY_PREFIX') ?? 'wr:';
}

function fromEnvFile(name: string): string | undefined {
  return existsSync('.env') ? parseEnv(readFileSync('.env', 'utf8'))[name] : undefined;
}

/** Hides a password in a redis URL. */
function redact(location: string): string {
  return location.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
