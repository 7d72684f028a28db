/**
 * A real Redis Cluster for the cluster tier of the fleet tests and the fleet benchmark: three
 * masters (`redis-server --cluster-enabled yes`, no replicas, no persistence) on free loopback
 * ports, joined by `redis-cli --cluster create … --cluster-yes`. `kill(i)` kills master `i` by its
 * pid (SIGKILL: a crash) and `restart(i)` starts it again on the same ports with the same
 * `nodes.conf`, so it rejoins with its node id and its slots (empty, as after a crash without
 * persistence). Every wait is bounded: startup and `cluster_state:ok` within `STARTUP_MS`.
 *
 * `cluster-require-full-coverage no`: the other masters keep serving their slots while one is down
 * (with the default `yes`, the whole cluster refuses commands once the failure is detected).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, REDIS_SERVER } from './redis.js';

export const REDIS_CLI = process.env.REDIS_CLI ?? '/usr/bin/redis-cli';

const STARTUP_MS = 20_000;
/** How soon the live masters mark a dead one as failed. */
const NODE_TIMEOUT_MS = 1_000;

/** Why the cluster tier cannot run here, or undefined when it can. */
export function clusterUnavailable(): string | undefined {
  const missing = [REDIS_SERVER, REDIS_CLI].filter((p) => !existsSync(p));
  if (missing.length === 0) return undefined;
  return `Redis Cluster tier skipped: ${missing.join(' and ')} not found (Debian packages redis-server and redis-tools; e2e/tools/install.sh installs them)`;
}

function cli(args: string[], timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(REDIS_CLI, args, { timeout: timeoutMs }, (error, stdout, stderr) => {
      if (error) reject(new Error(`redis-cli ${args.join(' ')}: ${error.message} ${stderr}`));
      else resolve(stdout);
    });
  });
}

export interface ClusterNodeInfo {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** `host:port`, as ioredis names the node (and the guard's shard). */
  readonly key: string;
  /** The running server's pid (undefined while killed). */
  readonly pid: number | undefined;
}

export interface RedisCluster {
  readonly nodes: readonly ClusterNodeInfo[];
  /** Startup nodes for `new Cluster(…)`. */
  readonly startupNodes: Array<{ host: string; port: number }>;
  /** Kills master `index` by pid (SIGKILL) and waits for it to exit. */
  kill(index: number): Promise<void>;
  /** Starts master `index` again (same ports, same nodes.conf) and waits for `cluster_state:ok` everywhere. */
  restart(index: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startRedisCluster(size = 3): Promise<RedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'claude-otel-cluster-'));
  const ports: Array<{ port: number; bus: number }> = [];
  const used = new Set<number>();
  while (ports.length < size) {
    const port = await freePort();
    const bus = await freePort();
    if (port === bus || used.has(port) || used.has(bus)) continue;
    used.add(port);
    used.add(bus);
    ports.push({ port, bus });
  }
  const children: Array<ChildProcess | undefined> = [];

  const launch = (index: number): Promise<ChildProcess> => {
    const { port, bus } = ports[index] as { port: number; bus: number };
    return new Promise((resolve, reject) => {
      const child = spawn(
        REDIS_SERVER,
        [
          '--port',
          String(port),
          '--cluster-port',
          String(bus),
          '--bind',
          '127.0.0.1',
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          join(dir, `nodes-${port}.conf`),
          '--cluster-node-timeout',
          String(NODE_TIMEOUT_MS),
          '--cluster-require-full-coverage',
          'no',
          '--dir',
          dir,
          '--save',
          '',
          '--appendonly',
          'no',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let output = '';
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`redis-server (cluster node ${port}) did not start: ${output}`));
      }, STARTUP_MS);
      const onData = (chunk: Buffer): void => {
        output += chunk.toString();
        if (output.includes('Ready to accept connections')) {
          clearTimeout(timer);
          child.stdout?.off('data', onData);
          child.stdout?.resume();
          child.stderr?.resume();
          child.off('exit', onExit);
          resolve(child);
        }
      };
      const onExit = (code: number | null): void => {
        clearTimeout(timer);
        reject(new Error(`redis-server (cluster node ${port}) exited with ${String(code)}: ${output}`));
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', (c: Buffer) => {
        output += c.toString();
      });
      child.once('exit', onExit);
    });
  };

  const live = (): number[] => ports.flatMap((p, i) => (children[i] !== undefined ? [p.port] : []));

  /** Until every live node says `cluster_state:ok` and knows all slots, bounded. */
  const settled = async (): Promise<void> => {
    const deadline = Date.now() + STARTUP_MS;
    let last = '';
    while (Date.now() < deadline) {
      let ok = true;
      for (const port of live()) {
        try {
          const info = await cli(['-p', String(port), 'cluster', 'info'], 2_000);
          last = info;
          if (!info.includes('cluster_state:ok') || !info.includes('cluster_slots_ok:16384')) ok = false;
        } catch (error) {
          last = String(error);
          ok = false;
        }
      }
      if (ok) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`redis cluster did not settle within ${STARTUP_MS} ms: ${last}`);
  };

  const stopChild = async (index: number, signal: NodeJS.Signals): Promise<void> => {
    const c = children[index];
    children[index] = undefined;
    if (c === undefined || c.exitCode !== null || c.pid === undefined) return;
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    process.kill(c.pid, signal);
    await exited;
  };

  const stop = async (): Promise<void> => {
    await Promise.all(ports.map((_, i) => stopChild(i, 'SIGKILL')));
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    for (let i = 0; i < size; i++) children[i] = await launch(i);
    await cli(
      ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p.port}`), '--cluster-yes'],
      STARTUP_MS,
    );
    await settled();
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    get nodes() {
      return ports.map((p, i) => ({
        host: '127.0.0.1' as const,
        port: p.port,
        key: `127.0.0.1:${p.port}`,
        pid: children[i]?.pid,
      }));
    },
    startupNodes: ports.map((p) => ({ host: '127.0.0.1', port: p.port })),
    async kill(index) {
      await stopChild(index, 'SIGKILL');
    },
    async restart(index) {
      if (children[index] !== undefined) return;
      children[index] = await launch(index);
      await settled();
    },
    stop,
  };
}
