/**
 * The e2e suite's port allocation (`test/e2e/stack.ts`): a port picked free is closed again before
 * the process binds it, so on a busy machine another process may take it first. `startOnFreePorts`
 * starts the process again on new ports when it fails to bind (item 24 of issue 15).
 */
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, startOnFreePorts, startProcess, stopAll, waitFor } from '../e2e/stack.js';

const logDir = join(tmpdir(), 'claude-otel-e2e-stack-test');
const LISTEN = `require('node:net').createServer().listen(Number(process.env.PORT), '127.0.0.1', () => console.log('listening')); setTimeout(() => {}, 60000);`;

afterAll(() => stopAll());

function listen(port = 0): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

describe('startOnFreePorts (item 24)', () => {
  it('a port taken between its allocation and the bind: the process starts again on new ports', async () => {
    // Another process takes the first port handed out before ours binds it.
    const squatter = await listen();
    const address = squatter.address();
    const taken = typeof address === 'object' && address !== null ? address.port : 0;
    const handed: number[] = [];
    let first = true;
    const allocate = async (): Promise<number> => {
      const port = first ? taken : await freePort();
      first = false;
      handed.push(port);
      return port;
    };
    try {
      const { managed, ports } = await startOnFreePorts(
        ['main'] as const,
        (p) =>
          startProcess('listener', process.execPath, ['-e', LISTEN], {
            logDir,
            env: { PORT: String(p.main) },
          }),
        (_p, m) =>
          waitFor('listening', async () => (m.output().includes('listening') ? true : undefined), {
            process: m,
            timeoutMs: 20_000,
            intervalMs: 20,
          }),
        { allocate },
      );
      expect(handed[0]).toBe(taken);
      expect(ports.main).not.toBe(taken);
      expect(managed.output()).toContain('listening');
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
  });

  it('any other failure is not retried', async () => {
    let launches = 0;
    await expect(
      startOnFreePorts(
        ['main'] as const,
        () => {
          launches++;
          return startProcess('failing', process.execPath, ['-e', 'process.exit(3)'], { logDir });
        },
        (_p, m) => waitFor('never', async () => undefined, { process: m, timeoutMs: 20_000, intervalMs: 20 }),
      ),
    ).rejects.toThrow(/exited \(3\)/);
    expect(launches).toBe(1);
  });
});
