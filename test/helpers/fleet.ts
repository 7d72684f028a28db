/**
 * Drives a fleet of worker processes (`fleet-worker.ts`, forked with tsx) from a test or a
 * benchmark: each call sends one message to every worker (or some) and waits for their answers.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { WorkerConfig, WorkerResult } from './fleet-worker.js';

export interface WorkerStats {
  logs: string[];
  /** The store's events, with their shard (a cluster master) and `Date.now()`. */
  events: Array<{ event: string; shard: string | undefined; at: number }>;
  /** Store calls of the policies that waited the whole store timeout. */
  storeTimeouts: number;
  storeShared: boolean;
  storeErrors: number;
  throttleWaits: number;
  /** Requests the fleet breaker refused. */
  breakerRejections: number;
}

const WORKER = fileURLToPath(new URL('./fleet-worker.ts', import.meta.url));

export interface Fleet {
  readonly size: number;
  /** Every worker (or those of `ids`) sends `count` requests; their results by worker. */
  send(
    count: number,
    options?: {
      ids?: number[];
      concurrency?: number;
      gapMs?: number;
      durationMs?: number;
      intervalMs?: number;
    },
  ): Promise<WorkerResult[][]>;
  stats(): Promise<WorkerStats[]>;
  /**
   * Moves time `ms` ahead for the fleet's breakers: every worker's policy clock, and the shared
   * breaker deadlines in Redis (which the scripts compare with the server's clock). No request may
   * be in flight.
   */
  advance(ms: number): Promise<void>;
  close(): Promise<void>;
}

function request<T>(child: ChildProcess, message: unknown, answer: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: { type: string }) => {
      if (m.type !== answer) return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve(m as T);
    };
    const onExit = (code: number | null) => reject(new Error(`worker exited with ${String(code)}`));
    child.on('message', onMessage);
    child.once('exit', onExit);
    child.send(message as object);
  });
}

export async function startFleet(size: number, config: (id: number) => WorkerConfig): Promise<Fleet> {
  const children = Array.from({ length: size }, () =>
    fork(WORKER, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
  );
  await Promise.all(children.map((c, id) => request(c, { type: 'init', config: config(id) }, 'ready')));
  return {
    size,
    async send(count, options = {}) {
      const ids = options.ids ?? children.map((_, i) => i);
      const answers = await Promise.all(
        ids.map((id) => {
          const child = children[id];
          if (child === undefined) throw new Error(`no worker ${id}`);
          return request<{ results: WorkerResult[] }>(
            child,
            {
              type: 'send',
              count,
              concurrency: options.concurrency,
              gapMs: options.gapMs,
              durationMs: options.durationMs,
              intervalMs: options.intervalMs,
            },
            'results',
          );
        }),
      );
      return answers.map((a) => a.results);
    },
    async stats() {
      return Promise.all(children.map((c) => request<WorkerStats>(c, { type: 'stats' }, 'stats')));
    },
    async advance(ms) {
      await Promise.all(
        children.map((c, id) => request(c, { type: 'advance', ms, store: id === 0 }, 'advanced')),
      );
    },
    async close() {
      await Promise.all(
        children.map(
          (c) =>
            new Promise<void>((resolve) => {
              if (c.exitCode !== null) return resolve();
              const timer = setTimeout(() => c.kill('SIGKILL'), 5_000);
              c.once('exit', () => {
                clearTimeout(timer);
                resolve();
              });
              c.send({ type: 'exit' });
            }),
        ),
      );
    },
  };
}
