/**
 * Cross-language conformance: the official Python SDK (`anthropic` from PyPI, pinned, in a venv
 * this test creates and caches outside the repo) drives the fake Claude API and the chaos proxy
 * with strict response validation (`_strict_response_validation=True`): create, streams with
 * `get_final_message()`, tools, thinking, stop sequences, `max_tokens`, `count_tokens`, models
 * with paging, validation errors, and every fault kind mapped to the exception class the SDK
 * raises for it. Any response the SDK's pydantic models reject fails the check that got it.
 *
 * Needs `python3` (with `venv`) and PyPI on first run; without python3 the test is skipped
 * locally and fails under CI (`CI` set).
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChaosServer, startChaos } from '../../src/cli/chaos.js';
import { validateScenario } from '../../src/cli/scenario.js';
import { type FakeClaude, type Fault, startFakeClaude } from '../../src/testing/index.js';

const run = promisify(execFile);

/** The SDK release checked; bump it to check a newer one. */
const ANTHROPIC_VERSION = '2.17.0';
const SCRIPT = join(import.meta.dirname, '..', 'conformance', 'python_sdk.py');
const python = ['python3', 'python'].find((p) => spawnSync(p, ['--version']).status === 0);

/** The venv with the pinned SDK, created once and cached (by version) outside the repo. */
async function venvPython(): Promise<string> {
  const cache = process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache');
  const dir =
    process.env.CLAUDE_OTEL_PYTHON_VENV ??
    join(cache, 'claude-otel-middleware', `python-anthropic-${ANTHROPIC_VERSION}`);
  const bin = join(dir, 'bin', 'python');
  const ready = join(dir, '.installed');
  if (existsSync(ready)) return bin;
  mkdirSync(dir, { recursive: true });
  await run(python ?? 'python3', ['-m', 'venv', '--clear', dir]);
  await run(
    bin,
    ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', `anthropic==${ANTHROPIC_VERSION}`],
    {
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  writeFileSync(ready, `anthropic==${ANTHROPIC_VERSION}\n`);
  return bin;
}

type Target = 'fake' | 'proxy';
interface FaultCase {
  fault: Fault;
  /** The exception class name the SDK raises, or `stop:<reason>` for an answer. */
  expect: string;
  stream?: boolean;
  /** Client timeout in seconds (for the delay faults). */
  timeout?: number;
  /** Default both; body shapes without a status, raw bytes and stop reasons are the fake's only. */
  targets?: Target[];
}

const FAULTS: Record<string, FaultCase> = {
  'fault-400': { fault: { status: 400 }, expect: 'BadRequestError' },
  'fault-401': { fault: { status: 401 }, expect: 'AuthenticationError' },
  'fault-403': { fault: { status: 403 }, expect: 'PermissionDeniedError' },
  'fault-404': { fault: { status: 404 }, expect: 'NotFoundError' },
  'fault-413': { fault: { status: 413 }, expect: 'ContentTooLargeError' },
  'fault-429': { fault: { status: 429 }, expect: 'RateLimitError' },
  'fault-500': { fault: { status: 500 }, expect: 'InternalServerError' },
  'fault-503': { fault: { status: 503 }, expect: 'ServiceUnavailableError' },
  'fault-504': { fault: { status: 504 }, expect: 'GatewayTimeoutError' },
  'fault-529': { fault: { status: 529 }, expect: 'OverloadedError' },
  'fault-529-stream': { fault: { status: 529 }, expect: 'OverloadedError', stream: true },
  'fault-html-502': { fault: { status: 502, body: 'html' }, expect: 'InternalServerError' },
  'fault-empty-503': { fault: { status: 503, body: 'empty' }, expect: 'ServiceUnavailableError' },
  'fault-truncated-500': { fault: { status: 500, body: 'truncated-json' }, expect: 'InternalServerError' },
  'fault-truncated-200': {
    fault: { body: 'truncated-json' },
    // The SDK parses a 200's body as JSON without wrapping the parser's error.
    expect: 'JSONDecodeError',
    targets: ['fake'],
  },
  'fault-delay-headers': { fault: { delayHeadersMs: 5_000 }, expect: 'APITimeoutError', timeout: 0.5 },
  'fault-delay-first-event': {
    fault: { delayFirstEventMs: 5_000 },
    expect: 'APITimeoutError',
    stream: true,
    timeout: 0.5,
  },
  'fault-stall': {
    fault: { stall: { afterEvents: 3, ms: 5_000 } },
    expect: 'APITimeoutError',
    stream: true,
    timeout: 0.5,
  },
  'fault-drop-boundary': { fault: { drop: { afterEvents: 4 } }, expect: 'APIConnectionError', stream: true },
  'fault-drop-mid-event': {
    fault: { drop: { afterEvents: 4, at: 'mid-event' } },
    expect: 'APIConnectionError',
    stream: true,
  },
  'fault-drop-mid-utf8': {
    fault: { drop: { afterEvents: 2, at: 'mid-utf8' } },
    expect: 'APIConnectionError',
    stream: true,
  },
  // An `event: error` after the 200 is an APIStatusError (its status is the 200's), whatever its type.
  'fault-sse-error': { fault: { sseError: { afterEvents: 3 } }, expect: 'APIStatusError', stream: true },
  'fault-sse-api-error': {
    fault: { sseError: { afterEvents: 3, errorType: 'api_error' } },
    expect: 'APIStatusError',
    stream: true,
  },
  'fault-raw-not-a-message': {
    fault: { raw: { headers: [['content-type', 'application/json']], chunks: ['{"type":"message"}'] } },
    expect: 'APIResponseValidationError',
    targets: ['fake'],
  },
  'fault-pause-turn': { fault: { stopReason: 'pause_turn' }, expect: 'stop:pause_turn', targets: ['fake'] },
  'fault-refusal': {
    fault: { stopReason: 'refusal' },
    expect: 'stop:refusal',
    targets: ['fake'],
    stream: true,
  },
  'fault-context-window': {
    fault: { stopReason: 'model_context_window_exceeded' },
    expect: 'stop:model_context_window_exceeded',
    targets: ['fake'],
  },
};

const modelOf = (body: unknown): string | undefined =>
  typeof body === 'object' && body !== null ? ((body as { model?: unknown }).model as string) : undefined;

interface CheckLine {
  target: string;
  check: string;
  ok: boolean;
  detail?: string;
}

describe.skipIf(python === undefined && !process.env.CI)('official Python SDK, strict validation', () => {
  const servers: Array<FakeClaude | ChaosServer> = [];
  let lines: CheckLine[] = [];
  let closing = '';
  let exitCode: number | null = null;
  let stderr = '';

  beforeAll(async () => {
    if (python === undefined) throw new Error('python3 is needed for the Python SDK conformance test');
    const bin = await venvPython();
    const models = Object.keys(FAULTS);
    const fake = await startFakeClaude({ models, faultFor: (r) => FAULTS[modelOf(r.body) ?? '']?.fault });
    const upstream = await startFakeClaude({ models });
    const proxyFaults = Object.entries(FAULTS)
      .filter(([, c]) => (c.targets ?? ['fake', 'proxy']).includes('proxy'))
      .map(([model, c]) => ({ match: { model }, fault: c.fault }));
    const proxy = await startChaos({
      scenario: validateScenario({ faults: proxyFaults }),
      upstream: upstream.url,
    });
    servers.push(fake, upstream, proxy);
    const faults = Object.fromEntries(
      Object.entries(FAULTS).map(([model, c]) => [
        model,
        {
          expect: c.expect,
          stream: c.stream ?? false,
          timeout: c.timeout,
          targets: c.targets ?? ['fake', 'proxy'],
        },
      ]),
    );
    const child = spawn(bin, [SCRIPT], {
      env: {
        ...process.env,
        TARGETS: JSON.stringify({ fake: fake.url, proxy: proxy.url }),
        FAULTS: JSON.stringify(faults),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    exitCode = await new Promise<number | null>((resolve) => child.on('close', resolve));
    const all = stdout.split('\n').filter((l) => l.length > 0);
    closing = all.at(-1) ?? '';
    lines = all.filter((l) => l.startsWith('{"target"')).map((l) => JSON.parse(l) as CheckLine);
  }, 300_000);

  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
  });

  it('every check passes against the fake and the proxy, with no validation error', () => {
    const failed = lines.filter((l) => !l.ok).map((l) => `${l.target} / ${l.check}: ${l.detail}`);
    expect(failed, stderr.slice(-4000)).toEqual([]);
    expect(closing).toMatch(/^python-sdk: \d+ passed, 0 failed$/);
    expect(exitCode).toBe(0);
  });

  it('ran every check on both targets', () => {
    const count = (target: Target): number => lines.filter((l) => l.target === target).length;
    const onlyFake = Object.values(FAULTS).filter((c) => !(c.targets ?? ['fake', 'proxy']).includes('proxy'));
    expect(count('fake')).toBe(10 + Object.keys(FAULTS).length);
    expect(count('proxy')).toBe(10 + Object.keys(FAULTS).length - onlyFake.length);
  });
});
