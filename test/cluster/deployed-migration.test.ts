import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { GatewayClient } from '@wecom-relay/gateway-client';
import { REPO_ROOT, TSX_BIN, testCorp } from '@wecom-relay/testkit';
import {
  DEPLOYED,
  DEPLOYED_SECRET,
  checkDropinRound,
  connectDeployedGateways,
  playDeployedHistory,
  writeDeployedDatabase,
  writeWhileDown,
  type DeployedHistory,
} from '../e2e/support/deployed-relay.js';
import { startCluster, type ClusterStack } from './cluster-stack.js';

const run = promisify(execFile);

describe("the deployed relay's database moved into Redis for a three-node cluster", () => {
  it('gives the same results as one node: delivery without replay, token and scan binding, replies; again after restarting every node', async () => {
    const corp = testCorp({ relaySecret: DEPLOYED_SECRET });
    const dir = mkdtempSync(join(tmpdir(), 'deployed-migration-'));
    let history: DeployedHistory | undefined;
    let waiting1: Awaited<ReturnType<typeof writeWhileDown>> = [];
    let migrated = '';
    let c: ClusterStack | undefined;
    let gateways: Record<string, GatewayClient> = {};
    const closeGateways = () => Promise.all(Object.values(gateways).map((g) => g.close().catch(() => undefined)));
    try {
      c = await startCluster({
        corp,
        // The deployed .env's own additions: its kf link id (ignored) and the migration's legacy auth line.
        env: { WECOM_KF_LINK_ID: 'kfc0123456789abcdef01', RELAY_LEGACY_SHARED_SECRET_AUTH: 'true' },
        async beforeNodes({ redis, keyPrefix, fake }) {
          history = await playDeployedHistory(fake, corp);
          const file = join(dir, 'relay.db');
          writeDeployedDatabase(file, history);
          waiting1 = await writeWhileDown(fake, 'c1');
          const out = await run(
            TSX_BIN,
            ['packages/relay-node/src/cli/relay-cli.ts', 'migrate', `sqlite:${file}`, redis.url, '--open-kfid', corp.openKfid],
            { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', REDIS_KEY_PREFIX: keyPrefix } },
          );
          migrated = out.stdout;
        },
      });
      expect(migrated).toContain('2 bindings, 2 pending tokens (1 expired left out)');
      expect(migrated).toContain('carried');

      const first = await connectDeployedGateways(c.lb.wsUrl);
      gateways = first;
      const delivered1 = await checkDropinRound({
        fake: c.fake,
        gateways: first,
        neverAgain: history!.behindCursor,
        waiting: waiting1,
        typedToken: DEPLOYED.tokens.before,
        round: 'c1',
      });

      await closeGateways();
      await Promise.all(c.nodes.map((n) => n.stop()));
      const waiting2 = await writeWhileDown(c.fake, 'c2');
      for (let i = 0; i < c.nodes.length; i++) await c.restartNode(i);
      const second = await connectDeployedGateways(c.lb.wsUrl);
      gateways = second;
      await checkDropinRound({
        fake: c.fake,
        gateways: second,
        neverAgain: [...history!.behindCursor, ...delivered1],
        waiting: waiting2,
        typedToken: DEPLOYED.tokens.after,
        round: 'c2',
      });
    } catch (err) {
      for (const n of c?.nodes ?? []) process.stderr.write(`\n--- ${n.env.NODE_ID} ---\n${n.tail(40)}\n`);
      throw err;
    } finally {
      await closeGateways();
      await c?.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 400_000);
});
