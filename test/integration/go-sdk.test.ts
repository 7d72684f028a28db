/**
 * Cross-language conformance, second client: the official Go SDK
 * (`github.com/anthropics/anthropic-sdk-go`, pinned in test/conformance/go/go.mod, from the Go
 * module proxy) drives the fake Claude API and the chaos proxy. The Go SDK decodes leniently, so
 * the program checks every decoded response itself: each field the SDK tags `api:"required"` is
 * present, and none failed to decode. Create, streams (accumulated), tools, thinking, stop
 * sequences, `max_tokens`, `count_tokens`, models with paging, validation errors, and every fault
 * kind mapped to how the SDK surfaces it.
 *
 * Needs Go ≥ 1.26 (the first build of the SDK takes minutes; Go's build cache keeps it); without
 * `go` the test is skipped locally and fails under CI (`CI` set).
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
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
/** Checks of main.go besides the faults, per target. */
const NORMAL_CHECKS = 8;
const MODULE = join(import.meta.dirname, '..', 'conformance', 'go');
const go = spawnSync('go', ['version']).status === 0;

describe.skipIf(!go && !process.env.CI)('official Go SDK, required fields checked', () => {
  let servers: Servers | undefined;
  let result: Run = { lines: [], closing: '', exitCode: null, stderr: '' };

  beforeAll(async () => {
    if (!go) throw new Error('go is needed for the Go SDK conformance test');
    const cache = process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache');
    const dir = join(cache, 'claude-otel-middleware', 'go-conformance');
    mkdirSync(dir, { recursive: true });
    const bin = join(dir, 'conformance');
    // `go build` is incremental: a rebuild with nothing changed takes a second.
    await run('go', ['build', '-mod=mod', '-o', bin, '.'], { cwd: MODULE, maxBuffer: 16 * 1024 * 1024 });
    servers = await startServers();
    result = await runClient(bin, [], { TARGETS: JSON.stringify(servers.urls), FAULTS: faultsFor('go') });
  }, 900_000);

  afterAll(async () => {
    await servers?.close();
  });

  itPassesEveryCheck(
    'go-sdk',
    'every check passes against the fake and the proxy, with every required field present',
    NORMAL_CHECKS,
    () => result,
  );
});
