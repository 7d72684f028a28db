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
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe } from 'vitest';
import {
  faultsFor,
  itPassesEveryCheck,
  type Run,
  runClient,
  type Servers,
  startServers,
} from '../conformance/targets.js';

const run = promisify(execFile);

/** The SDK release checked; bump it to check a newer one. */
const ANTHROPIC_VERSION = '2.17.0';
/** Checks of python_sdk.py besides the faults, per target. */
const NORMAL_CHECKS = 10;
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
  const pip = ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check'];
  await run(bin, [...pip, `anthropic==${ANTHROPIC_VERSION}`], { maxBuffer: 16 * 1024 * 1024 });
  writeFileSync(ready, `anthropic==${ANTHROPIC_VERSION}\n`);
  return bin;
}

describe.skipIf(python === undefined && !process.env.CI)('official Python SDK, strict validation', () => {
  let servers: Servers | undefined;
  let result: Run = { lines: [], closing: '', exitCode: null, stderr: '' };

  beforeAll(async () => {
    if (python === undefined) throw new Error('python3 is needed for the Python SDK conformance test');
    const bin = await venvPython();
    servers = await startServers();
    result = await runClient(bin, [SCRIPT], {
      TARGETS: JSON.stringify(servers.urls),
      FAULTS: faultsFor('python'),
    });
  }, 300_000);

  afterAll(async () => {
    await servers?.close();
  });

  itPassesEveryCheck(
    'python-sdk',
    'every check passes against the fake and the proxy, with no validation error',
    NORMAL_CHECKS,
    () => result,
  );
});
