import type { Counter } from 'prom-client';
import { loadConfig } from './config/load-config.js';
import { createLogger } from './observability/logger.js';
import { prettyLogStream, wantsPrettyLogs } from './observability/pretty-log-stream.js';
import { createStateBackend } from './state/create-state-backend.js';
import { RelayNode } from './relay-node.js';
import { isRelayError } from './errors/relay-error.js';
import { createMetrics } from './observability/metrics.js';
import { IdleCollector } from './util/idle-collector.js';

/** Beyond the drain window: time for in-flight replies and close handshakes. Kubernetes' default grace is 30 s. */
const DRAIN_DEADLINE_MARGIN_MS = 15_000;

/** Starts one relay node from the environment (and `.env`), and drains it on SIGTERM/SIGINT. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    process.stderr.write(`${isRelayError(err) ? err.message : String(err)}\n`);
    process.exit(78); // EX_CONFIG
  }
  const pretty = wantsPrettyLogs(config.logFormat, process.stdout.isTTY === true);
  const logger = createLogger(
    { level: config.logLevel, nodeId: config.nodeId },
    pretty ? prettyLogStream(process.stdout, process.stdout.isTTY === true) : undefined,
  );
  // Created before the backend, so the Redis client reports its commands into the node's registry.
  const metrics = createMetrics(config.nodeId);
  let backend;
  try {
    backend = await createStateBackend(config, logger, metrics);
  } catch (err) {
    // E.g. a database file of unknown shape: one fatal line with its code and exit, not an unhandled rejection.
    logger.fatal({ err, code: isRelayError(err) ? err.code : undefined }, isRelayError(err) ? err.message : 'state could not be opened');
    process.exit(1);
  }
  // An operator's drain (admin API) ends the process like SIGTERM does, once the gateways are handed over.
  const node = new RelayNode({ config, logger, backend, metrics, onDrainRequested: () => stop('admin drain') });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'draining');
    // A drain stuck on an unreachable dependency must still end before the orchestrator's SIGKILL, with a log line.
    setTimeout(() => {
      logger.error({ signal }, 'drain did not finish in time; exiting');
      process.exit(1);
    }, config.drain.spreadMs + DRAIN_DEADLINE_MARGIN_MS).unref();
    node
      .drain()
      .then(() => process.exit(0))
      .catch((err: unknown) => {
        logger.error({ err }, 'drain failed');
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('unhandledRejection', (err) => logger.error({ err }, 'unhandled rejection'));
  try {
    await node.start();
  } catch (err) {
    logger.fatal({ err }, 'node failed to start');
    await node.close().catch(() => undefined);
    process.exit(1);
  }
  // A process-wide concern, so here rather than in RelayNode (tests run several nodes in one process).
  new IdleCollector({
    quietMs: config.idleCollectAfterMs,
    // Messages pulled and frames written: a node serving traffic keeps its memory and its compiled code.
    activity: async () => (await counterTotal(metrics.messagesIn)) + (await counterTotal(metrics.deliveries)),
    onCollected: ({ ms, heapBefore, heapAfter }) => {
      metrics.idleCollections.inc();
      logger.debug({ ms, heapBefore, heapAfter }, 'idle collection');
    },
    onFailed: (err) => logger.warn({ err }, 'idle collection failed; memory is no longer given back at idle'),
  }).start();
}

/** A counter's value summed over its label sets. */
async function counterTotal(counter: Counter): Promise<number> {
  return (await counter.get()).values.reduce((sum, v) => sum + v.value, 0);
}

void main();
