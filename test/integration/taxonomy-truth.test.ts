/**
 * The README's error table is true (issue 15, item 22). The table is generated from `TAXONOMY`
 * (`npm run docs:telemetry`; `telemetry-reference.test.ts` keeps the README current); this test
 * keeps `TAXONOMY` honest: for every row, a misbehaving inner fetch produces that `error.type` under
 * `retry: true`, and the row's "retried" column must be what the pipeline did (an
 * `anthropic.retry.scheduled` event on the operation span, or not). A row without a scenario here
 * fails the test. (It said first-chunk and idle timeouts were retried: they fire after the response
 * reached the consumer, and only `resume` continues such a stream.)
 */
import { SpanKind } from '@opentelemetry/api';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type ClaudeFetchOptions, createClaudeFetch } from '../../src/index.js';
import { TAXONOMY } from '../../src/policies/classify.js';
import { drive, FakeClock } from '../helpers/fake-clock.js';
import { installOtel, type OtelHarness, settle } from '../helpers/otel.js';

const URL_ = 'http://api.test.invalid/v1/messages';
const BODY = JSON.stringify({ model: 'claude-sonnet-4-6', max_tokens: 8, stream: false, messages: [] });
const STREAM_BODY = JSON.stringify({ model: 'claude-sonnet-4-6', max_tokens: 8, stream: true, messages: [] });

let otel: OtelHarness;
let clock: FakeClock;
beforeAll(() => {
  otel = installOtel();
});
afterAll(async () => {
  await otel.shutdown();
});
beforeEach(() => {
  otel.reset();
  clock = new FakeClock(1_700_000_000_000);
});

type Inner = (init: RequestInit | undefined) => Promise<Response>;

/** Waits for the attempt's abort and fails as fetch does. */
const untilAborted: Inner = (init) =>
  new Promise((_, reject) => {
    const signal = init?.signal;
    signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
  });

const status =
  (code: number, headers: Record<string, string> = {}): Inner =>
  async () =>
    new Response('', { status: code, headers: { 'content-type': 'application/json', ...headers } });

/** An SSE response that sends `first` (if any) and then nothing, failing on the attempt's abort. */
const stalledStream =
  (first?: string): Inner =>
  async (init) => {
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        if (first !== undefined) controller.enqueue(new TextEncoder().encode(first));
        const signal = init?.signal;
        signal?.addEventListener('abort', () => controller.error(signal.reason), { once: true });
      },
    });
    return new Response(body, { headers: { 'content-type': 'text/event-stream' } });
  };

interface Scenario {
  readonly inner: Inner;
  readonly options?: ClaudeFetchOptions;
  readonly body?: string;
  /** Runs before the measured call (e.g. to open the breaker). */
  readonly prepare?: (call: () => Promise<void>) => Promise<void>;
  /** The caller's own abort, after the call started. */
  readonly abort?: boolean;
}

const START = `event: message_start\ndata: ${JSON.stringify({ type: 'message_start', message: { id: 'm', type: 'message', role: 'assistant', model: 'claude-sonnet-4-6', content: [], stop_reason: null, usage: { input_tokens: 1, output_tokens: 0 } } })}\n\n`;

/** One way to produce each `error.type` of the taxonomy. */
const SCENARIOS: Record<string, Scenario> = {
  invalid_request_error: { inner: status(400) },
  authentication_error: { inner: status(401) },
  billing_error: { inner: status(402) },
  permission_error: { inner: status(403) },
  not_found_error: { inner: status(404) },
  request_timeout: { inner: status(408) },
  conflict: { inner: status(409) },
  request_too_large: { inner: status(413) },
  unprocessable_entity: { inner: status(422) },
  rate_limit_error: { inner: status(429) },
  client_error: { inner: status(418) },
  api_error: { inner: status(500) },
  bad_gateway: { inner: status(502) },
  service_unavailable: { inner: status(503) },
  timeout_error: { inner: status(504) },
  overloaded_error: { inner: status(529) },
  server_error: { inner: status(507) },
  aborted: { inner: untilAborted, abort: true },
  connection_error: {
    inner: async () => {
      throw new TypeError('fetch failed', {
        cause: Object.assign(new Error('reset'), { code: 'ECONNRESET' }),
      });
    },
  },
  timeout: {
    inner: async () => {
      throw new TypeError('fetch failed', {
        cause: Object.assign(new Error('Headers Timeout Error'), { code: 'UND_ERR_HEADERS_TIMEOUT' }),
      });
    },
  },
  connect_timeout: { inner: untilAborted, options: { timeouts: { connectMs: 100 } } },
  first_chunk_timeout: {
    inner: stalledStream(),
    options: { timeouts: { firstChunkMs: 100 } },
    body: STREAM_BODY,
  },
  idle_timeout: { inner: stalledStream(START), options: { timeouts: { idleMs: 100 } }, body: STREAM_BODY },
  total_timeout: { inner: untilAborted, options: { timeouts: { totalMs: 100 } } },
  circuit_open: {
    inner: status(500),
    options: {
      retry: { maxAttempts: 1 },
      breaker: { mode: 'consecutive', consecutiveFailures: 1, hold: false },
    },
    prepare: (call) => call(),
  },
  retry_after_exceeds_deadline: {
    inner: status(429, { 'retry-after': '30' }),
    options: { timeouts: { totalMs: 1_000 } },
  },
  throttled: {
    inner: async () =>
      new Response('{}', {
        status: 200,
        headers: {
          'content-type': 'application/json',
          'anthropic-ratelimit-requests-limit': '10',
          'anthropic-ratelimit-requests-remaining': '0',
          'anthropic-ratelimit-requests-reset': new Date(Date.now() + 30_000).toISOString(),
        },
      }),
    options: { throttle: { maxWaitMs: 1 } },
    prepare: (call) => call(),
  },
};

async function run(scenario: Scenario): Promise<{ retried: boolean; errorTypes: unknown[] }> {
  const fetchFn = createClaudeFetch({
    clock,
    random: () => 0.5,
    retry: true,
    ...scenario.options,
    fetch: ((_: unknown, init?: RequestInit) => scenario.inner(init)) as typeof fetch,
  });
  const answered: (string | null)[] = [];
  const call = async (signal?: AbortSignal): Promise<void> => {
    const response = await fetchFn(URL_, { method: 'POST', body: scenario.body ?? BODY, signal });
    // A policy's own answer names its failure in this header.
    answered.push(response.headers.get('x-claude-otel-error'));
    await response.text();
  };
  await scenario.prepare?.(() =>
    drive(
      clock,
      call().catch(() => undefined),
    ),
  );
  await settle();
  otel.reset();
  const controller = new AbortController();
  const pending = call(controller.signal).catch(() => undefined);
  if (scenario.abort) {
    await settle();
    controller.abort();
  }
  await drive(clock, pending);
  await settle();
  const op = otel.spans().find((s) => s.kind === SpanKind.INTERNAL);
  const events = op?.events ?? [];
  const attemptTypes = otel
    .spans()
    .filter((s) => s.kind === SpanKind.CLIENT)
    .map((s) => s.attributes['error.type']);
  return {
    retried: events.some((e) => e.name === 'anthropic.retry.scheduled'),
    errorTypes: [op?.attributes['error.type'], ...attemptTypes, answered.at(-1)],
  };
}

describe('the error table (TAXONOMY) says what the pipeline does', () => {
  it('has a scenario for every row', () => {
    expect(TAXONOMY.map((row) => row.errorType).sort()).toEqual(Object.keys(SCENARIOS).sort());
  });

  it.each(TAXONOMY.map((row) => [row.errorType, row.retryable] as const))(
    '%s: retried = %s',
    async (errorType, retryable) => {
      const scenario = SCENARIOS[errorType];
      expect(scenario).toBeDefined();
      const { retried, errorTypes } = await run(scenario!);
      // The scenario produced the row's failure: its name, or for a response without an API error
      // body its status (the HTTP semantic conventions' `error.type`).
      const row = TAXONOMY.find((r) => r.errorType === errorType)!;
      const expected =
        typeof row.status === 'number'
          ? String(row.status)
          : row.status === 'other 4xx'
            ? '418'
            : row.status === 'other 5xx'
              ? '507'
              : errorType;
      expect(errorTypes.map(String)).toContain(expected);
      expect(retried).toBe(retryable);
    },
  );
});
