/**
 * Native processes for the e2e tests: the collector, Jaeger and Prometheus started from the repository's
 * own config files on loopback ports, with readiness checks, bounded waits, logs kept in files and a
 * stop by pid that also runs when a step failed.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

export const ROOT = new URL('../../', import.meta.url).pathname;

/** Paths of the binaries built by e2e/tools/install.sh (read from e2e/tools/paths.sh, the one source). */
export function toolPaths(): { otelcol: string; jaeger: string; prometheus: string; redis: string } {
  const out = execFileSync(
    'bash',
    [
      '-c',
      'source e2e/tools/paths.sh; echo "$OTELCOL_BIN"; echo "$JAEGER_BIN"; command -v prometheus || true',
    ],
    { cwd: ROOT, encoding: 'utf8' },
  ).split('\n');
  const [otelcol = '', jaeger = '', prometheus = ''] = out;
  return { otelcol, jaeger, prometheus, redis: 'redis-server' };
}

/** A free loopback TCP port (the kernel's choice; closed again before use). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Whether a process's output says it could not bind its address (the port was taken). */
export function isBindFailure(output: string): boolean {
  return /address already in use|EADDRINUSE/i.test(output);
}

/**
 * Starts a process on free loopback ports, race-free: a port picked by {@link freePort} is closed
 * again before the process binds it, so another process on a busy machine may take it first. When
 * the process then fails to bind (its output says so), it is stopped and started again on new
 * ports, up to `attempts` times; any other failure is thrown as is.
 */
export async function startOnFreePorts<P extends string>(
  portNames: readonly P[],
  launch: (ports: Record<P, number>) => Managed,
  ready: (ports: Record<P, number>, managed: Managed) => Promise<unknown>,
  { attempts = 5, allocate = freePort }: { attempts?: number; allocate?: () => Promise<number> } = {},
): Promise<{ managed: Managed; ports: Record<P, number> }> {
  for (let attempt = 1; ; attempt++) {
    const ports = {} as Record<P, number>;
    for (const name of portNames) ports[name] = await allocate();
    const managed = launch(ports);
    try {
      await ready(ports, managed);
      return { managed, ports };
    } catch (error) {
      // Its output is complete once its streams closed.
      const child = managed.process;
      if (child.exitCode !== null && child.stdout !== null && !child.stdout.readableEnded) {
        await new Promise((resolve) => child.once('close', resolve));
      }
      if (attempt >= attempts || !isBindFailure(managed.output())) throw error;
      await stop(managed);
    }
  }
}

/** Stops one managed process (SIGTERM, then SIGKILL after `graceMs`) and forgets it. */
export async function stop(managed: Managed, graceMs = 5_000): Promise<void> {
  const index = started.indexOf(managed);
  if (index >= 0) started.splice(index, 1);
  const child = managed.process;
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

export interface Managed {
  readonly name: string;
  readonly process: ChildProcess;
  readonly logFile: string;
  /** The last lines of the process's output. */
  tail(lines?: number): string;
  /** Whole output so far. */
  output(): string;
}

const started: Managed[] = [];

/** Starts a process with its stdout and stderr written to `<logDir>/<name>.log`. */
export function startProcess(
  name: string,
  command: string,
  args: string[],
  options: { env?: Record<string, string>; cwd?: string; logDir: string },
): Managed {
  mkdirSync(options.logDir, { recursive: true });
  const logFile = join(options.logDir, `${name}.log`);
  const log = createWriteStream(logFile);
  const child = spawn(command, args, {
    cwd: options.cwd ?? ROOT,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  // Also kept in memory (the last 1 MB): the file may not be written yet when the process has exited.
  let kept = '';
  const keep = (chunk: Buffer): void => {
    kept += chunk.toString();
    if (kept.length > 1_000_000) kept = kept.slice(-1_000_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const output = () => kept;
  const managed: Managed = {
    name,
    process: child,
    logFile,
    output,
    tail: (lines = 40) => output().split('\n').slice(-lines).join('\n'),
  };
  started.push(managed);
  return managed;
}

/** Stops every process started here, by pid: SIGTERM, then SIGKILL after `graceMs`. */
export async function stopAll(graceMs = 5_000): Promise<void> {
  await Promise.all(
    started.splice(0).map(
      (m) =>
        new Promise<void>((resolve) => {
          const child = m.process;
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
          child.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          child.kill('SIGTERM');
        }),
    ),
  );
}

/** Logs of every process started here, for a failure report. */
export function allLogs(lines = 60): string {
  return started.map((m) => `----- ${m.name} (${m.logFile}) -----\n${m.tail(lines)}`).join('\n');
}

/**
 * Polls `check` until it returns a value other than `undefined`, at most `timeoutMs`; throws with the
 * last failure and the processes' logs otherwise. Also fails fast when `process` exited.
 */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  {
    timeoutMs = 60_000,
    intervalMs = 500,
    process: managed,
  }: { timeoutMs?: number; intervalMs?: number; process?: Managed } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    if (managed && managed.process.exitCode !== null) {
      throw new Error(
        `${managed.name} exited (${managed.process.exitCode}) while waiting for ${what}:\n${managed.tail()}`,
      );
    }
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`,
  );
}

/** Resolves when an HTTP GET of `url` answers 200. */
export function waitHttpOk(what: string, url: string, managed: Managed, timeoutMs = 60_000): Promise<true> {
  return waitFor(
    what,
    async () => {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await response.arrayBuffer();
      return response.ok ? true : undefined;
    },
    { timeoutMs, process: managed },
  );
}

/** GET a JSON document. */
export async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  if (!response.ok) throw new Error(`GET ${url}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}
