import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { GatewayClient } from '@wecom-relay/gateway-client';
import {
  ProcessStartError,
  reserveRelayPorts,
  spawnFakeWecom,
  spawnRelayNode,
  testCorp,
  type FakeWecomHandle,
  type RelayNodeHandle,
} from '@wecom-relay/testkit';
import { createDeployedDatabase, dropTable, inspectStateFile } from '../../packages/relay-node/test/support/deployed-database.js';
import {
  DEPLOYED,
  checkDropinRound,
  connectDeployedGateways,
  deployedDotEnv,
  envFromDotEnv,
  playDeployedHistory,
  writeDeployedDatabase,
  writeWhileDown,
} from './support/deployed-relay.js';

const UPGRADED = "deployed relay's database upgraded in place";

describe("a node started on the deployed relay's .env and database", () => {
  it('delivers to bound users without replaying what the deployed relay delivered, binds by token and scan, replies; again after a restart', async () => {
    const corp = testCorp();
    const ports = await reserveRelayPorts();
    const dir = mkdtempSync(join(tmpdir(), 'deployed-dropin-'));
    mkdirSync(join(dir, 'data'));
    const databasePath = join(dir, 'data', 'relay.db');
    let fake: FakeWecomHandle | undefined;
    let node: RelayNodeHandle | undefined;
    let gateways: Record<string, GatewayClient> = {};
    const closeGateways = () => Promise.all(Object.values(gateways).map((g) => g.close().catch(() => undefined)));
    try {
      fake = await spawnFakeWecom({ corp, callbackUrls: [ports.webhookUrl] });
      const history = await playDeployedHistory(fake, corp);
      writeDeployedDatabase(databasePath, history);
      const env = envFromDotEnv(deployedDotEnv(corp, { port: ports.port, wsPort: ports.wsPort, databasePath }), fake.url);

      const waiting1 = await writeWhileDown(fake, 'r1');
      node = await spawnRelayNode(env);
      // Log lines reach the test through the node's stdout pipe, possibly after /readyz answered.
      const upgradeLine = await node.process.waitForLine((l) => l.includes(UPGRADED), 10_000);
      expect(JSON.parse(upgradeLine)).toMatchObject({ bindings: 2, pendingTokens: 2, expiredTokensDropped: 1, cursorCarried: true });
      const backups = () => readdirSync(join(dir, 'data')).filter((f) => f.startsWith('relay.db.pre-upgrade-') && f.endsWith('.bak'));
      expect(backups()).toHaveLength(1);

      const first = await connectDeployedGateways(node.wsUrl);
      gateways = first;
      const delivered1 = await checkDropinRound({
        fake,
        gateways: first,
        neverAgain: history.behindCursor,
        waiting: waiting1,
        typedToken: DEPLOYED.tokens.before,
        round: 'r1',
      });

      await closeGateways();
      await node.stop();
      const waiting2 = await writeWhileDown(fake, 'r2');
      node = await spawnRelayNode(env);
      // The upgrade would be logged before the node reports itself running.
      await node.process.waitForLine((l) => l.includes('relay node running'), 10_000);
      expect(node.logs.some((l) => l.includes(UPGRADED))).toBe(false);
      expect(backups()).toHaveLength(1);

      const second = await connectDeployedGateways(node.wsUrl);
      gateways = second;
      // A reconnecting deployed gateway is told of its bindings, including those made before the restart.
      await second.c.waitFor((f) => f.type === 'binding_resolved', 20_000);
      await checkDropinRound({
        fake,
        gateways: second,
        neverAgain: [...history.behindCursor, ...delivered1],
        waiting: waiting2,
        typedToken: DEPLOYED.tokens.after,
        round: 'r2',
      });
    } catch (err) {
      process.stderr.write(`\n--- relay-node ---\n${node?.tail(80) ?? ''}\n--- fake-wecom ---\n${fake?.process.tail(30) ?? ''}\n`);
      throw err;
    } finally {
      await closeGateways();
      await node?.stop();
      await fake?.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});

describe('a node given a database of unknown shape', () => {
  it('refuses to start, naming STATE_SCHEMA_UNKNOWN, and leaves the file untouched', async () => {
    const corp = testCorp();
    const dir = mkdtempSync(join(tmpdir(), 'unknown-schema-'));
    const databasePath = join(dir, 'relay.db');
    // Half of the deployed schema: bindings without pending_bindings.
    createDeployedDatabase(databasePath, {});
    dropTable(databasePath, 'pending_bindings');
    try {
      const started = await spawnRelayNode(envFromDotEnv(deployedDotEnv(corp, { port: 0, wsPort: 0, databasePath }), 'http://127.0.0.1:9'), {
        readyTimeoutMs: 60_000,
      }).catch((err: unknown) => err);
      expect(started).toBeInstanceOf(ProcessStartError);
      expect((started as ProcessStartError).code).toBe('PROCESS_EXITED');
      expect((started as ProcessStartError).tail).toContain('STATE_SCHEMA_UNKNOWN');
      expect(inspectStateFile(databasePath).tables).toEqual(['bindings', 'kv']);
      expect(readdirSync(dir).filter((f) => f.endsWith('.bak'))).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
