/**
 * The scenarios of the resilience benchmark. A fault is a pure function of the workload index of a
 * request (carried in its message text) and of how many times the fake has already seen that index
 * (the attempt), hashed with the seed: the same seed gives the same faults whatever the timing and
 * whichever variant (SDK retries or ours) sends the attempts.
 *
 * A phase (burst, rate limit, outage) is a window of workload indices: a request issued in the
 * window fails on every attempt (its retries come within the same outage), a request issued after
 * it succeeds. Requests are issued on a fixed schedule, so a window is also a stretch of time.
 *
 * Faults may also depend on where an attempt went (the fake instance: the primary region or the
 * secondary) and on the model it names (after a model fallback, the fallback model). Health probes
 * of the regions carry no workload index: their fault depends on the workload index issued last.
 *
 * A continuation of a broken stream (ours with `resume`) carries the same workload index (its first
 * message is the original one), so it counts as a later attempt of the same request.
 */
import type { Fault } from '../../src/testing/index.js';

/** A deterministic number in [0, 1) for these parts (FNV-1a, then a mulberry32 round). */
export function hashUnit(...parts: Array<string | number>): number {
  let h = 0x811c9dc5;
  for (const ch of parts.join('\u0000')) {
    h ^= ch.codePointAt(0) ?? 0;
    h = Math.imul(h, 0x01000193);
  }
  let t = (h + 0x6d2b79f5) | 0;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

/** A seeded random source for our policies' jitter (mulberry32). */
export function seededRandom(seed: number): () => number {
  let a = Math.floor(hashUnit('jitter', seed) * 4294967296) >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The model every workload request names. */
export const REQUEST_MODEL = 'claude-sonnet-4-6';
/** The model of the fallback chain (scenario 7). */
export const FALLBACK_MODEL = 'claude-haiku-4-5';

/** A fake instance: the SDK's base URL (`primary`), or the second region of scenario 6. */
export type Instance = 'primary' | 'secondary';

/** Where an attempt went. */
export interface Target {
  instance: Instance;
  /** The model in the request body (a fallback rewrites it). */
  model: string | undefined;
}

export interface ScenarioConfig {
  /** Workload size. */
  requests: number;
  seed: number;
  /** How long a stalled stream pauses, in real ms. */
  stallMs: number;
  /** Real ms per ms of policy time (for the descriptions). Default 0.01. */
  timeScale?: number;
}

export interface Scenario {
  /** Short key (`RESILIENCE_ONLY` selects by it). */
  key:
    | 'steady'
    | 'burst'
    | 'rate-limit'
    | 'outage'
    | 'stall'
    | 'failover'
    | 'model-fallback'
    | 'broken-streams';
  /** Title for the table. */
  title: string;
  /** One line on what the fake does. */
  description: string;
  /**
   * How the workload calls the API: `false` `messages.create(…)`; `events` `messages.create({ stream:
   * true })` consumed with `for await`; `final-message` `messages.stream(…).finalMessage()`.
   */
  stream: false | 'events' | 'final-message';
  /**
   * The fake's assistant text for every request (default: a generated sentence per request). When
   * set, the text of each successful message is checked against it.
   */
  text?: string;
  /** Ours runs twice: as usual, and with `resume: true` on top (a third variant). */
  resume?: boolean;
  /** The fault phase, as workload indices [start, end); none for steady faults. */
  window: { start: number; end: number } | undefined;
  /** Whether the phase should open a circuit breaker (times are reported). */
  breakerPhase: boolean;
  /**
   * Ours gets a second region, a healthy fake instance (`regions` with active health probes); the
   * SDK keeps the primary only.
   */
  regions: boolean;
  /** Ours gets `fallback: { models }`. */
  fallbackModels: string[] | undefined;
  /**
   * The fault for attempt `attempt` (0-based, counted over every instance) of workload request
   * `index`, sent to `target`.
   */
  fault(index: number, attempt: number, target: Target): Fault | undefined;
  /**
   * The fault of a request without a workload index (a region health probe) to `instance`, when
   * `lastIssued` is the workload index issued last (-1 before the first). Default: none.
   */
  probeFault?(instance: Instance, lastIssued: number): Fault | undefined;
}

/**
 * Background for every scenario: 2 % of the requests are invalid (400 `invalid_request_error` on
 * every attempt), which no one should ever resend. Server-wide faults take precedence.
 */
export function invalidRequest(seed: number, index: number): Fault | undefined {
  return hashUnit(seed, 'invalid', index) < 0.02
    ? { status: 400, errorType: 'invalid_request_error' }
    : undefined;
}

/**
 * The fake's text in scenario 8: about 30 words with multi-byte UTF-8 characters (`é`, 2 bytes; `—`
 * and `☕`, 3 bytes), so that a cut can fall inside a character and continuations are deterministic.
 */
export const BROKEN_STREAM_TEXT =
  'The café on the corner opens at seven, and by eight the queue of students, nurses and night-shift drivers reaches the bakery next door — nobody minds the wait, the coffee ☕ is worth it.';

/**
 * How scenario 8 breaks a first attempt's stream after `afterEvents` complete events: the
 * connection dropped on an event boundary, in the middle of the next event or inside a multi-byte
 * character, or an `event: error` (overloaded_error) in place of the next event.
 */
function brokenStream(kind: number, afterEvents: number): Fault {
  switch (kind) {
    case 0:
      return { drop: { afterEvents } };
    case 1:
      return { drop: { afterEvents, at: 'mid-event' } };
    case 2:
      return { drop: { afterEvents, at: 'mid-utf8' } };
    default:
      return { sseError: { afterEvents, errorType: 'overloaded_error' } };
  }
}

function windowOf(requests: number, from: number, to: number): { start: number; end: number } {
  return { start: Math.floor(requests * from), end: Math.floor(requests * to) };
}

const inWindow = (w: { start: number; end: number }, index: number): boolean =>
  index >= w.start && index < w.end;

export function scenarios(config: ScenarioConfig): Scenario[] {
  const { requests, seed, stallMs } = config;
  const burst = windowOf(requests, 0.4, 0.5);
  const limited = windowOf(requests, 0.3, 0.55);
  const outage = windowOf(requests, 0.25, 0.55);
  const regionDown = windowOf(requests, 0.25, 0.55);
  const overloaded = windowOf(requests, 0.25, 0.55);
  const plain = { regions: false, fallbackModels: undefined };
  return [
    {
      key: 'steady',
      title: '1. steady 5 % 529',
      description: 'each attempt gets 529 overloaded_error with probability 5 % (no retry-after)',
      stream: false,
      window: undefined,
      breakerPhase: false,
      ...plain,
      fault: (index, attempt) =>
        hashUnit(seed, 'steady', index, attempt) < 0.05 ? { status: 529 } : undefined,
    },
    {
      key: 'burst',
      title: '2. burst of 100 % 529',
      description: `requests #${burst.start}–#${burst.end - 1} get 529 on every attempt, then healthy`,
      stream: false,
      window: burst,
      breakerPhase: true,
      ...plain,
      fault: (index) => (inWindow(burst, index) ? { status: 529 } : undefined),
    },
    {
      key: 'rate-limit',
      title: '3. 429 with retry-after: 1',
      description: `requests #${limited.start}–#${limited.end - 1}: first attempt 429 rate_limit_error with retry-after: 1, the next succeeds`,
      stream: false,
      window: limited,
      breakerPhase: false,
      ...plain,
      fault: (index, attempt) =>
        inWindow(limited, index) && attempt === 0
          ? { status: 429, headers: { 'retry-after': '1' } }
          : undefined,
    },
    {
      key: 'outage',
      title: '4. full outage (503), then recovery',
      description: `requests #${outage.start}–#${outage.end - 1} get 503 (a proxy's HTML page) on every attempt, then healthy`,
      stream: false,
      window: outage,
      breakerPhase: true,
      ...plain,
      fault: (index) => (inWindow(outage, index) ? { status: 503, body: 'html' } : undefined),
    },
    {
      key: 'stall',
      title: '5. stalled streams',
      description: `streams; 10 % of them stall ${stallMs} ms (real; ${(stallMs / (config.timeScale ?? 0.01) / 1000).toFixed(1)} s of policy time, below idleMs) after 5 events, then finish`,
      stream: 'events',
      window: undefined,
      breakerPhase: false,
      ...plain,
      fault: (index, attempt) =>
        attempt === 0 && hashUnit(seed, 'stall', index) < 0.1
          ? { stall: { afterEvents: 5, ms: stallMs } }
          : undefined,
    },
    {
      key: 'failover',
      title: '6. region outage with failover',
      description: `the primary region answers 503 (a proxy's HTML page) to every attempt of requests #${regionDown.start}–#${regionDown.end - 1} and to its health probes meanwhile, then recovers; a secondary region (ours only) stays healthy`,
      stream: false,
      window: regionDown,
      breakerPhase: true,
      regions: true,
      fallbackModels: undefined,
      fault: (index, _attempt, { instance }) =>
        instance === 'primary' && inWindow(regionDown, index) ? { status: 503, body: 'html' } : undefined,
      probeFault: (instance, lastIssued) =>
        instance === 'primary' && inWindow(regionDown, lastIssued)
          ? { status: 503, body: 'html' }
          : undefined,
    },
    {
      key: 'model-fallback',
      title: '7. model fallback under sustained 529',
      description: `${REQUEST_MODEL} answers 529 to every attempt of requests #${overloaded.start}–#${overloaded.end - 1}, then recovers; ${FALLBACK_MODEL} (ours' fallback) stays healthy`,
      stream: false,
      window: overloaded,
      breakerPhase: true,
      regions: false,
      fallbackModels: [FALLBACK_MODEL],
      fault: (index, _attempt, { model }) =>
        model === REQUEST_MODEL && inWindow(overloaded, index) ? { status: 529 } : undefined,
    },
    {
      key: 'broken-streams',
      title: '8. broken streams',
      description:
        'messages.stream(…).finalMessage() with a fixed ~30-word text; the first attempt of 20 % of the requests (the invalid ones excepted) is cut after 4–39 of its 48 events (inside the text: event 3 is the first text delta, 40 the last multi-byte one), mixed evenly: connection dropped on an event boundary, in the middle of an event or inside a multi-byte character, or `event: error` overloaded_error; later attempts are healthy',
      stream: 'final-message',
      text: BROKEN_STREAM_TEXT,
      resume: true,
      window: undefined,
      breakerPhase: false,
      ...plain,
      fault: (index, attempt) => {
        if (attempt > 0 || invalidRequest(seed, index) || hashUnit(seed, 'broken', index) >= 0.2)
          return undefined;
        // Event 3 is the first text delta, so some text has arrived; a mid-utf8 cut always finds a
        // multi-byte character at or after the next event (the last one, ☕, is in event 40).
        const afterEvents = 4 + Math.floor(hashUnit(seed, 'broken-at', index) * 36);
        return brokenStream(Math.floor(hashUnit(seed, 'broken-kind', index) * 4), afterEvents);
      },
    },
  ];
}
