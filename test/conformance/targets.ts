/**
 * What the official-SDK conformance tests (Python, Go) share: the fault table, the servers they
 * drive (the fake, and the chaos proxy in front of a second fake) and the runner that collects
 * the checks' JSON lines.
 */
import { spawn } from 'node:child_process';
import { expect, it } from 'vitest';
import { type ChaosServer, startChaos } from '../../src/cli/chaos.js';
import { validateScenario } from '../../src/cli/scenario.js';
import { type FakeClaude, type Fault, startFakeClaude } from '../../src/testing/index.js';

export type Target = 'fake' | 'proxy';

export interface FaultCase {
  fault: Fault;
  /** Python: the exception class name the SDK raises, or `stop:<reason>` for an answer. */
  python: string;
  /**
   * Go: how the SDK surfaces it — `status:<code>` (an `*anthropic.Error`), `timeout`, `connection`,
   * `decode`, `strict` (decoded, but required fields are missing), `stop:<reason>`.
   */
  go: string;
  stream?: boolean;
  /** Client timeout in seconds (for the delay faults). */
  timeout?: number;
  /** Default both; body shapes without a status, raw bytes and stop reasons are the fake's only. */
  targets?: Target[];
}

const status = (code: number, python: string, more: Partial<FaultCase> = {}): FaultCase => ({
  fault: { status: code },
  python,
  go: `status:${code}`,
  ...more,
});

/** One fault per model name: requests naming the model get the fault. */
export const FAULTS: Record<string, FaultCase> = {
  'fault-400': status(400, 'BadRequestError'),
  'fault-401': status(401, 'AuthenticationError'),
  'fault-403': status(403, 'PermissionDeniedError'),
  'fault-404': status(404, 'NotFoundError'),
  'fault-413': status(413, 'ContentTooLargeError'),
  'fault-429': status(429, 'RateLimitError'),
  'fault-500': status(500, 'InternalServerError'),
  'fault-503': status(503, 'ServiceUnavailableError'),
  'fault-504': status(504, 'GatewayTimeoutError'),
  'fault-529': status(529, 'OverloadedError'),
  'fault-529-stream': status(529, 'OverloadedError', { stream: true }),
  'fault-html-502': { fault: { status: 502, body: 'html' }, python: 'InternalServerError', go: 'status:502' },
  'fault-empty-503': {
    fault: { status: 503, body: 'empty' },
    python: 'ServiceUnavailableError',
    go: 'status:503',
  },
  'fault-truncated-500': {
    fault: { status: 500, body: 'truncated-json' },
    python: 'InternalServerError',
    go: 'status:500',
  },
  'fault-truncated-200': {
    fault: { body: 'truncated-json' },
    // The SDKs parse a 200's body as JSON without wrapping the parser's error.
    python: 'JSONDecodeError',
    go: 'decode',
    targets: ['fake'],
  },
  'fault-delay-headers': {
    fault: { delayHeadersMs: 5_000 },
    python: 'APITimeoutError',
    go: 'timeout',
    timeout: 0.5,
  },
  'fault-delay-first-event': {
    fault: { delayFirstEventMs: 5_000 },
    python: 'APITimeoutError',
    go: 'timeout',
    stream: true,
    timeout: 0.5,
  },
  'fault-stall': {
    fault: { stall: { afterEvents: 3, ms: 5_000 } },
    python: 'APITimeoutError',
    go: 'timeout',
    stream: true,
    timeout: 0.5,
  },
  'fault-drop-boundary': {
    fault: { drop: { afterEvents: 4 } },
    python: 'APIConnectionError',
    go: 'connection',
    stream: true,
  },
  'fault-drop-mid-event': {
    fault: { drop: { afterEvents: 4, at: 'mid-event' } },
    python: 'APIConnectionError',
    go: 'connection',
    stream: true,
  },
  'fault-drop-mid-utf8': {
    fault: { drop: { afterEvents: 2, at: 'mid-utf8' } },
    python: 'APIConnectionError',
    go: 'connection',
    stream: true,
  },
  // An `event: error` after the 200 is an APIStatusError (Go: an *anthropic.Error) with the 200's status.
  'fault-sse-error': {
    fault: { sseError: { afterEvents: 3 } },
    python: 'APIStatusError',
    go: 'status:200',
    stream: true,
  },
  'fault-sse-api-error': {
    fault: { sseError: { afterEvents: 3, errorType: 'api_error' } },
    python: 'APIStatusError',
    go: 'status:200',
    stream: true,
  },
  'fault-raw-not-a-message': {
    fault: { raw: { headers: [['content-type', 'application/json']], chunks: ['{"type":"message"}'] } },
    python: 'APIResponseValidationError',
    go: 'strict',
    targets: ['fake'],
  },
  'fault-pause-turn': {
    fault: { stopReason: 'pause_turn' },
    python: 'stop:pause_turn',
    go: 'stop:pause_turn',
    targets: ['fake'],
  },
  'fault-refusal': {
    fault: { stopReason: 'refusal' },
    python: 'stop:refusal',
    go: 'stop:refusal',
    targets: ['fake'],
    stream: true,
  },
  'fault-context-window': {
    fault: { stopReason: 'model_context_window_exceeded' },
    python: 'stop:model_context_window_exceeded',
    go: 'stop:model_context_window_exceeded',
    targets: ['fake'],
  },
};

export const targetsOf = (c: FaultCase): Target[] => c.targets ?? ['fake', 'proxy'];

/** The number of checks a client runs besides the faults, per target (as in its program). */
export interface Servers {
  urls: Record<Target, string>;
  close(): Promise<void>;
}

const modelOf = (body: unknown): string =>
  typeof body === 'object' && body !== null ? String((body as { model?: unknown }).model) : '';

/** The fake (faults by model name) and the chaos proxy (the same faults as rules) before a second fake. */
export async function startServers(): Promise<Servers> {
  const models = Object.keys(FAULTS);
  const fake: FakeClaude = await startFakeClaude({ models, faultFor: (r) => FAULTS[modelOf(r.body)]?.fault });
  const upstream = await startFakeClaude({ models });
  const rules = Object.entries(FAULTS)
    .filter(([, c]) => targetsOf(c).includes('proxy'))
    .map(([model, c]) => ({ match: { model }, fault: c.fault }));
  const proxy: ChaosServer = await startChaos({
    scenario: validateScenario({ faults: rules }),
    upstream: upstream.url,
  });
  return {
    urls: { fake: fake.url, proxy: proxy.url },
    close: async () => {
      await Promise.all([fake.close(), upstream.close(), proxy.close()]);
    },
  };
}

/** The fault table as a client program reads it (`FAULTS`), with that client's expectation. */
export function faultsFor(client: 'python' | 'go'): string {
  return JSON.stringify(
    Object.fromEntries(
      Object.entries(FAULTS).map(([model, c]) => [
        model,
        { expect: c[client], stream: c.stream ?? false, timeout: c.timeout ?? 0, targets: targetsOf(c) },
      ]),
    ),
  );
}

export interface CheckLine {
  target: Target;
  check: string;
  ok: boolean;
  detail?: string;
}

export interface Run {
  lines: CheckLine[];
  /** The program's last line: `<client>: N passed, N failed`. */
  closing: string;
  exitCode: number | null;
  stderr: string;
}

/** Runs a client program with the servers' URLs and its fault table; collects its check lines. */
export async function runClient(
  command: string,
  args: string[],
  env: Record<string, string>,
  cwd?: string,
): Promise<Run> {
  const child = spawn(command, args, {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const exitCode = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const all = stdout.split('\n').filter((l) => l.length > 0);
  return {
    lines: all.filter((l) => l.startsWith('{"target"')).map((l) => JSON.parse(l) as CheckLine),
    closing: all.at(-1) ?? '',
    exitCode,
    stderr,
  };
}

/**
 * The two assertions every conformance client gets: each check passed (`title` says what else it
 * verified) with a closing `<client>: N passed, 0 failed` line and exit code 0, and every check ran
 * on both targets (`normalChecks` besides the faults, per target). `result` is read when the tests run.
 */
export function itPassesEveryCheck(
  client: string,
  title: string,
  normalChecks: number,
  result: () => Run,
): void {
  it(title, () => {
    const { lines, stderr, closing, exitCode } = result();
    const failed = lines.filter((l) => !l.ok).map((l) => `${l.target} / ${l.check}: ${l.detail}`);
    expect(failed, stderr.slice(-4000)).toEqual([]);
    expect(closing).toMatch(new RegExp(`^${client}: \\d+ passed, 0 failed$`));
    expect(exitCode).toBe(0);
  });

  it('ran every check on both targets', () => {
    const count = (target: Target): number => result().lines.filter((l) => l.target === target).length;
    const faults = Object.values(FAULTS);
    expect(count('fake')).toBe(normalChecks + faults.length);
    expect(count('proxy')).toBe(normalChecks + faults.filter((c) => targetsOf(c).includes('proxy')).length);
  });
}
