/**
 * Resilience benchmark: the SDK's own retries (instrumentation-only fetch, SDK maxRetries 2) against
 * our policies (`retry`, `breaker`, `timeouts`, with the SDK at its defaults), through the real
 * `@anthropic-ai/sdk`, against the fake Claude API in process, in eight scenarios; 6 and 7 add
 * graceful degradation to ours: a second region with active health probes (6), a fallback model (7);
 * 8 (broken streams, `messages.stream(…).finalMessage()`) runs ours twice, without and with `resume`.
 * Prints success rate, HTTP attempts per request, resent non-retryable errors, latency, circuit
 * breaker timing, what the fallback region or model served and the failback, stream continuations
 * and text mismatches (8), and the goals with MET / MISSED.
 *
 *   npm run bench:resilience
 *   RESILIENCE_ONLY=outage,burst RESILIENCE_REQUESTS=600 npm run bench:resilience
 *
 * Environment: RESILIENCE_REQUESTS (300), RESILIENCE_INTERVAL_MS (8: a request is started every 8 ms),
 * RESILIENCE_CONCURRENCY (8: most in flight), RESILIENCE_LATENCY_MS (40: the fake's latency),
 * RESILIENCE_TIME_SCALE (0.01: real ms per ms of our policies' time), RESILIENCE_STALL_MS (1500 ms of policy time),
 * RESILIENCE_SEED (1), RESILIENCE_ONLY (scenario keys: steady, burst, rate-limit, outage, stall,
 * failover, model-fallback, broken-streams). Region probes (scenario 6): every 5 s of policy time, 10 s timeout.
 */
import type { RecordedRequest } from '../src/testing/index.js';
import {
  isWatchedBreaker,
  type RunResult,
  runScenario,
  type Variant,
  type WorkloadConfig,
} from './resilience/harness.js';
import { FALLBACK_MODEL, REQUEST_MODEL, type Scenario, scenarios } from './resilience/scenarios.js';
import { percentile } from './shared.js';

function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0)
    throw new TypeError(`${name} must be a positive number, got ${raw}`);
  return value;
}

const config: WorkloadConfig = {
  requests: Math.round(envNumber('RESILIENCE_REQUESTS', 300)),
  intervalMs: envNumber('RESILIENCE_INTERVAL_MS', 8),
  concurrency: Math.round(envNumber('RESILIENCE_CONCURRENCY', 8)),
  latencyMs: envNumber('RESILIENCE_LATENCY_MS', 40),
  seed: Math.round(envNumber('RESILIENCE_SEED', 1)),
  timeScale: envNumber('RESILIENCE_TIME_SCALE', 0.01),
  timeouts: { connectMs: 30_000, firstChunkMs: 30_000, idleMs: 20_000 },
  probe: { intervalMs: 5_000, timeoutMs: 10_000 },
};
// The stall in policy ms, shorter than idleMs (20 s) as the scenario means it; the fake gets it in
// real ms (× timeScale). It used to be 1500 real ms = 150 s of policy time, 7.5× idleMs: every
// stalled stream then hit our idle timeout (the old "stalled streams" miss).
const stallMs = envNumber('RESILIENCE_STALL_MS', 1500) * config.timeScale;
const only = process.env.RESILIENCE_ONLY?.split(',').map((s) => s.trim());

const VARIANT_NAME: Record<Variant, string> = {
  sdk: 'SDK retries only',
  ours: 'ours',
  'ours-resume': 'ours + resume',
  cockatiel: 'cockatiel stack',
};

/** Statuses a client must never resend: 4xx except 408, 409 and 429. */
const nonRetryable = (status: number | undefined): boolean =>
  status !== undefined && status >= 400 && status < 500 && ![408, 409, 429].includes(status);

/** A continuation of a broken stream: the request's messages end with an assistant turn (a prefill). */
function isContinuation(request: RecordedRequest): boolean {
  const body = request.body as { messages?: Array<{ role?: unknown }> } | undefined;
  return body?.messages?.at(-1)?.role === 'assistant';
}

/** An attempt whose stream the fake broke (dropped connection or `event: error`). */
const brokenByFake = (request: RecordedRequest): boolean =>
  request.fault?.drop !== undefined || request.fault?.sseError !== undefined;

function groupByIndex(server: readonly RecordedRequest[]): Map<number, RecordedRequest[]> {
  const groups = new Map<number, RecordedRequest[]>();
  for (const request of server) {
    const body = request.body as { messages?: Array<{ content?: unknown }> } | undefined;
    const content = body?.messages?.[0]?.content;
    const match = typeof content === 'string' ? /\[bench#(\d+)\]/.exec(content) : null;
    if (!match) continue;
    const index = Number(match[1]);
    const group = groups.get(index);
    if (group) group.push(request);
    else groups.set(index, [request]);
  }
  return groups;
}

interface BreakerTiming {
  /** Real ms from the first request of the phase to the first opening; undefined: never opened. */
  openedAfterMs: number | undefined;
  /** Real ms from the first request after the phase to the breaker closing (0: it was closed). */
  recoveredAfterMs: number | undefined;
  opened: number;
  /** Epoch ms of the first opening. */
  firstOpenAt: number | undefined;
}

/** Scenario 6: where the requests went, and the return to the primary. */
interface Failover {
  /** Successful requests the secondary answered. */
  servedBySecondary: number;
  /** HTTP attempts sent to the secondary. */
  attemptsToSecondary: number;
  /** Requests issued after the phase. */
  after: number;
  /** Of them, those the primary answered. */
  afterOnPrimary: number;
  /** Real ms from the first request after the phase to the first one the primary answered. */
  failbackAfterMs: number | undefined;
  /** Real ms from the first request after the phase to the start of the run of requests answered by the primary to the end, if any. */
  stayedOnPrimaryAfterMs: number | undefined;
}

interface Analysis {
  run: RunResult;
  requests: number;
  successRate: number;
  amplification: number;
  /** Attempts per request over the phase's requests. */
  phaseAmplification: number | undefined;
  /** Over the phase's requests issued once our breaker was open (the same indices for both variants). */
  openAmplification: number | undefined;
  openCount: number;
  nonRetryableResent: number;
  /** Server requests the SDK sent as its own retries (`x-stainless-retry-count` > 0). */
  sdkResends: number;
  p50: number;
  p99: number;
  /** Success rate of the requests after the phase. */
  afterPhaseSuccess: number | undefined;
  breaker: BreakerTiming | undefined;
  failures: Map<string, number>;
  /** Scenario 6 only. */
  failover: Failover | undefined;
  /** Scenario 7 only: successful requests answered by the fallback model. */
  servedByFallback: number | undefined;
  /** Streams the fake broke (attempts with a `drop` or `sseError` fault). */
  broken: number;
  /** Continuation requests (their messages end with an assistant prefill). */
  continuations: number;
  /** Workload requests with at least one continuation. */
  resumedRequests: number;
  /** Scenarios with a fixed text only: successful requests whose final text differs from it. */
  mismatches: number | undefined;
}

function amplificationOver(groups: Map<number, RecordedRequest[]>, indices: readonly number[]): number {
  if (indices.length === 0) return Number.NaN;
  let sent = 0;
  for (const index of indices) sent += groups.get(index)?.length ?? 0;
  return sent / indices.length;
}

function range(start: number, end: number): number[] {
  return Array.from({ length: Math.max(0, end - start) }, (_, i) => start + i);
}

function breakerTiming(run: RunResult): BreakerTiming | undefined {
  const window = run.scenario.window;
  if (run.variant === 'sdk' || window === undefined) return undefined;
  const issued = (index: number): number | undefined => run.results[index]?.issuedAt;
  const phaseStart = issued(window.start) ?? 0;
  const phaseEnd = issued(window.end);
  // The breaker of the faulty path: the request model on the primary (not the fallback's, not the secondary's).
  const transitions = run.transitions.filter((t) => isWatchedBreaker(t.key));
  const opens = transitions.filter((t) => t.to === 'open');
  const firstOpen = opens.find((t) => t.at >= phaseStart - 1) ?? opens[0];
  let recoveredAfterMs: number | undefined;
  if (phaseEnd !== undefined) {
    const before = transitions.filter((t) => t.at <= phaseEnd).at(-1);
    if (before === undefined || before.to === 'closed') recoveredAfterMs = 0;
    else {
      const closed = transitions.find((t) => t.at > phaseEnd && t.to === 'closed');
      recoveredAfterMs = closed === undefined ? undefined : closed.at - phaseEnd;
    }
  }
  return {
    openedAfterMs: firstOpen === undefined ? undefined : firstOpen.at - phaseStart,
    recoveredAfterMs,
    opened: opens.length,
    firstOpenAt: firstOpen?.at,
  };
}

function failoverOf(run: RunResult): Failover | undefined {
  const window = run.scenario.window;
  if (!run.scenario.regions || window === undefined) return undefined;
  const after = run.results.filter((r) => r.index >= window.end);
  const onPrimary = (r: (typeof after)[number]): boolean => r.ok && r.servedBy === 'primary';
  const phaseEnd = after[0]?.issuedAt ?? 0;
  const first = after.find(onPrimary);
  // The run of requests the primary answered to the end (failures of the caller's own excepted).
  let stayed: number | undefined;
  for (let i = after.length - 1; i >= 0; i--) {
    const r = after[i] as (typeof after)[number];
    if (onPrimary(r)) stayed = r.issuedAt;
    else if (r.ok || r.error !== '400 invalid_request_error') break;
  }
  return {
    servedBySecondary: run.results.filter((r) => r.ok && r.servedBy === 'secondary').length,
    attemptsToSecondary: run.sentTo.get('secondary') ?? 0,
    after: after.length,
    afterOnPrimary: after.filter(onPrimary).length,
    failbackAfterMs: first === undefined ? undefined : first.issuedAt - phaseEnd,
    stayedOnPrimaryAfterMs: stayed === undefined ? undefined : stayed - phaseEnd,
  };
}

function analyse(run: RunResult, openIndices: readonly number[] | undefined): Analysis {
  const groups = groupByIndex(run.server);
  const requests = run.results.length;
  const successes = run.results.filter((r) => r.ok).length;
  let nonRetryableResent = 0;
  for (const group of groups.values()) {
    group.forEach((request, i) => {
      if (i < group.length - 1 && nonRetryable(request.fault?.status)) nonRetryableResent++;
    });
  }
  const sdkResends = run.server.filter((r) => (r.headers['x-stainless-retry-count'] ?? '0') !== '0').length;
  const failures = new Map<string, number>();
  for (const r of run.results) {
    if (!r.ok) failures.set(r.error ?? '?', (failures.get(r.error ?? '?') ?? 0) + 1);
  }
  const window = run.scenario.window;
  const after = window ? run.results.filter((r) => r.index >= window.end) : [];
  const latencies = run.results.map((r) => r.latencyMs);
  const expected = run.scenario.text;
  const resumed = new Set<number>();
  for (const [index, group] of groups) if (group.some(isContinuation)) resumed.add(index);
  return {
    run,
    requests,
    successRate: successes / requests,
    amplification: run.server.length / requests,
    phaseAmplification: window ? amplificationOver(groups, range(window.start, window.end)) : undefined,
    openAmplification:
      openIndices && openIndices.length > 0 ? amplificationOver(groups, openIndices) : undefined,
    openCount: openIndices?.length ?? 0,
    nonRetryableResent,
    sdkResends,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    afterPhaseSuccess: after.length > 0 ? after.filter((r) => r.ok).length / after.length : undefined,
    breaker: breakerTiming(run),
    failures,
    failover: failoverOf(run),
    servedByFallback:
      run.scenario.fallbackModels === undefined
        ? undefined
        : run.results.filter((r) => r.ok && r.model !== undefined && r.model !== REQUEST_MODEL).length,
    broken: run.server.filter(brokenByFake).length,
    continuations: run.server.filter(isContinuation).length,
    resumedRequests: resumed.size,
    mismatches:
      expected === undefined ? undefined : run.results.filter((r) => r.ok && r.text !== expected).length,
  };
}

const pct = (x: number): string => `${(x * 100).toFixed(1)} %`;
const fixed = (x: number | undefined, digits = 2): string =>
  x === undefined || Number.isNaN(x) ? '—' : x.toFixed(digits);
const ms = (x: number): string => (x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${x.toFixed(0)} ms`);
/** Real ms, and what it is in policy time. */
const policyTime = (realMs: number | undefined): string =>
  realMs === undefined ? '—' : `${ms(realMs)} (≈ ${(realMs / config.timeScale / 1000).toFixed(0)} s policy)`;

/** Successful requests the secondary region (6) or the fallback model (7) answered. */
function servedElsewhere(a: Analysis): string {
  const n = a.failover?.servedBySecondary ?? a.servedByFallback;
  return n === undefined ? '—' : `${n} (${pct(n / a.requests)})`;
}

/** Continuation requests, and how many workload requests had one (scenarios that stream). */
function continuations(a: Analysis): string {
  if (!a.run.scenario.stream) return '—';
  return `${a.continuations} (${a.resumedRequests} req)`;
}

/** Scenario 6: requests after the phase the primary answered; when the first came. */
function failback(a: Analysis): string {
  const f = a.failover;
  if (f === undefined) return '—';
  const first = f.failbackAfterMs === undefined ? 'never' : `first after ${policyTime(f.failbackAfterMs)}`;
  return `${f.afterOnPrimary}/${f.after}, ${first}`;
}

async function main(): Promise<void> {
  const all = scenarios({
    requests: config.requests,
    seed: config.seed,
    stallMs,
    timeScale: config.timeScale,
  });
  const selected = all.filter((s) => !only || only.includes(s.key));
  const started = performance.now();
  const rows: string[][] = [];
  const details: string[] = [];
  const verdicts: string[] = [];
  const byScenario = new Map<
    Scenario['key'],
    { sdk: Analysis; ours: Analysis; resume: Analysis | undefined }
  >();

  for (const scenario of selected) {
    process.stderr.write(`${scenario.title}: SDK retries … `);
    const sdkRun = await runScenario(scenario, 'sdk', config);
    process.stderr.write(`${ms(sdkRun.wallMs)}; ours … `);
    const oursRun = await runScenario(scenario, 'ours', config);
    process.stderr.write(ms(oursRun.wallMs));
    let resumeRun: RunResult | undefined;
    if (scenario.resume) {
      process.stderr.write('; ours + resume … ');
      resumeRun = await runScenario(scenario, 'ours-resume', config);
      process.stderr.write(ms(resumeRun.wallMs));
    }
    process.stderr.write('\n');
    // The phase's requests issued once our breaker had opened; the same indices for the SDK run.
    const timing = breakerTiming(oursRun);
    const window = scenario.window;
    const openIndices =
      scenario.breakerPhase && window && timing?.firstOpenAt !== undefined
        ? range(window.start, window.end).filter(
            (i) => (oursRun.results[i]?.issuedAt ?? 0) >= (timing.firstOpenAt ?? Number.POSITIVE_INFINITY),
          )
        : undefined;
    const sdk = analyse(sdkRun, openIndices);
    const ours = analyse(oursRun, openIndices);
    const resume = resumeRun && analyse(resumeRun, openIndices);
    byScenario.set(scenario.key, { sdk, ours, resume });
    for (const a of resume ? [sdk, ours, resume] : [sdk, ours]) {
      const b = a.breaker;
      rows.push([
        scenario.title,
        VARIANT_NAME[a.run.variant],
        String(a.requests),
        pct(a.successRate),
        fixed(a.amplification),
        fixed(a.phaseAmplification),
        a.openAmplification === undefined ? '—' : `${fixed(a.openAmplification)} (${a.openCount} req)`,
        String(a.nonRetryableResent),
        ms(a.p50),
        ms(a.p99),
        b === undefined ? '—' : b.opened === 0 ? 'never opened' : policyTime(b.openedAfterMs),
        b === undefined || b.opened === 0
          ? '—'
          : b.recoveredAfterMs === undefined
            ? 'not by the end'
            : policyTime(b.recoveredAfterMs),
        servedElsewhere(a),
        failback(a),
        continuations(a),
        a.mismatches === undefined ? '—' : String(a.mismatches),
        ms(a.run.wallMs),
      ]);
      const failures = [...a.failures.entries()]
        .sort((x, y) => y[1] - x[1])
        .map(([type, n]) => `${type} ×${n}`)
        .join(', ');
      const events = [...a.run.eventCounts.entries()]
        .filter(([name]) => name !== 'exception' && !name.startsWith('anthropic.retry.scheduled'))
        .sort(([x], [y]) => x.localeCompare(y))
        .map(([name, n]) => `${name.replace(/^anthropic\./, '')} ×${n}`)
        .join(', ');
      const parts = [
        `failures: ${failures || 'none'}`,
        ...(a.broken > 0 ? [`streams broken by the fake: ${a.broken}`] : []),
        `SDK resends seen by the server: ${a.sdkResends}`,
        `max in flight: ${a.run.maxInFlight}`,
      ];
      if (a.afterPhaseSuccess !== undefined)
        parts.push(`success after the phase: ${pct(a.afterPhaseSuccess)}`);
      const f = a.failover;
      if (f !== undefined) {
        parts.push(
          `HTTP attempts to the secondary: ${f.attemptsToSecondary}; requests after the phase answered by the primary: ${f.afterOnPrimary}/${f.after}${f.stayedOnPrimaryAfterMs === undefined ? '' : `, all of them from ${policyTime(f.stayedOnPrimaryAfterMs)} after the phase on`}`,
        );
      }
      if (a.run.variant !== 'sdk') {
        parts.push(`policy events: ${events || 'none'}`);
        if (events.includes('region.health_change'))
          parts.push(
            'region.health_change is an event on each operation that saw the change, so concurrent ones repeat it; changes by probes have none',
          );
        const probes = [...a.run.probes.entries()]
          .map(([region, p]) => `${region} ${p.sent} (${p.failed} failed)`)
          .join(', ');
        if (probes) parts.push(`region probes: ${probes}`);
        const t0 = a.run.results[0]?.issuedAt ?? 0;
        const keys = [...new Set(a.run.transitions.map((t) => t.key))];
        for (const key of keys) {
          const transitions = a.run.transitions.filter((t) => t.key === key);
          parts.push(
            `breaker${keys.length > 1 ? ` ${key}` : ''}: ${transitions.map((t) => `${t.to} at ${((t.at - t0) / 1000).toFixed(2)} s`).join(' → ')} (real time from the first request)`,
          );
        }
      }
      details.push(`- ${scenario.title}, ${VARIANT_NAME[a.run.variant]}: ${parts.join('; ')}`);
    }
  }
  const totalMs = performance.now() - started;

  // Goals.
  const steady = byScenario.get('steady');
  if (steady) {
    const a = steady.ours.amplification;
    verdicts.push(
      `HTTP attempts per request in steady state (5 % 529): ours ${fixed(a, 3)} (SDK ${fixed(steady.sdk.amplification, 3)}; goal ≤ 1.1) ${a <= 1.1 ? 'MET' : 'MISSED'}`,
    );
  }
  const outage = byScenario.get('outage');
  if (outage) {
    const a = outage.ours.openAmplification;
    verdicts.push(
      a === undefined
        ? 'HTTP attempts per request during the outage once the breaker is open: the breaker never opened MISSED'
        : `HTTP attempts per request during the outage once the breaker is open (${outage.ours.openCount} requests): ours ${fixed(a, 3)} (SDK ${fixed(outage.sdk.openAmplification, 3)} on the same requests; goal ≤ 1.05) ${a <= 1.05 ? 'MET' : 'MISSED'}`,
    );
  }
  // Ours: both of our variants (with and without resume).
  const resentOurs = [...byScenario.values()].reduce(
    (n, v) => n + v.ours.nonRetryableResent + (v.resume?.nonRetryableResent ?? 0),
    0,
  );
  const resentSdk = [...byScenario.values()].reduce((n, v) => n + v.sdk.nonRetryableResent, 0);
  verdicts.push(
    `Non-retryable errors (4xx other than 408/409/429) resent, all scenarios: ours ${resentOurs} (SDK ${resentSdk}; goal 0) ${resentOurs === 0 ? 'MET' : 'MISSED'}`,
  );
  for (const [key, { sdk, ours, resume }] of byScenario) {
    const title = all.find((s) => s.key === key)?.title ?? key;
    if (resume !== undefined) {
      const met = resume.successRate >= sdk.successRate && resume.successRate >= ours.successRate;
      verdicts.push(
        `Success rate, ${title}: ours + resume ${pct(resume.successRate)} (${resume.continuations} continuations for ${resume.resumedRequests} requests) vs SDK ${pct(sdk.successRate)} and ours without resume ${pct(ours.successRate)} (goal: broken streams: success with resume ≥ SDK default's and ≥ ours without resume) ${met ? 'MET' : 'MISSED'}`,
      );
      const variants = [sdk, ours, resume];
      if (variants.every((a) => a.mismatches !== undefined)) {
        const total = variants.reduce((n, a) => n + (a.mismatches ?? 0), 0);
        verdicts.push(
          `Final texts differing from the fake's, ${title}: ${variants.map((a) => `${VARIANT_NAME[a.run.variant]} ${a.mismatches}`).join(', ')} (goal 0) ${total === 0 ? 'MET' : 'MISSED'}`,
        );
      }
      continue;
    }
    const extra =
      ours.failover !== undefined
        ? `; ours served ${ours.failover.servedBySecondary} by the secondary, ${ours.failover.afterOnPrimary}/${ours.failover.after} after the phase by the primary`
        : ours.servedByFallback !== undefined
          ? `; ours served ${ours.servedByFallback} (${pct(ours.servedByFallback / ours.requests)}) by ${FALLBACK_MODEL}`
          : '';
    verdicts.push(
      `Success rate, ${title}: ours ${pct(ours.successRate)} vs SDK ${pct(sdk.successRate)}${extra} (goal: ≥ SDK default's) ${ours.successRate >= sdk.successRate ? 'MET' : 'MISSED'}`,
    );
  }

  const header = [
    'scenario',
    'variant',
    'requests',
    'success',
    'attempts/req',
    'attempts/req in phase',
    'attempts/req once breaker open',
    'non-retryable resent',
    'p50',
    'p99',
    'breaker opened after',
    'breaker closed after phase end',
    'served by the secondary / fallback model',
    'failback: after the phase on the primary',
    'stream continuations (requests resumed)',
    'text mismatches',
    'wall',
  ];
  const table = [header, header.map(() => '---'), ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
  const t = config.timeouts;
  console.log(`
Node ${process.version}; seed ${config.seed}; total ${ms(totalMs)}.
Workload per run: ${config.requests} requests through the real SDK, one started every ${config.intervalMs} ms (real), at most ${config.concurrency} in flight; the fake answers after ${config.latencyMs} ms (real); 2 % of requests are invalid (400 on every attempt) in every scenario. Faults depend only on the request's workload index and attempt (seeded), and in 6 and 7 on where the attempt went (the instance, the model), not on timing; 6's health probes fail while the last request issued is in the phase.
Variants: "SDK retries only" = createClaudeFetch() (instrumentation only) + SDK maxRetries 2; "ours" = createClaudeFetch({ retry: true, breaker: true, timeouts: { connectMs: ${t.connectMs}, firstChunkMs: ${t.firstChunkMs}, idleMs: ${t.idleMs} } }) + SDK at its defaults (the SDK is told not to retry on top). The SDK's baseURL is the primary fake in every run. In 6, ours adds regions: { list: [primary, secondary (a second fake)], probe: { intervalMs: ${config.probe.intervalMs}, timeoutMs: ${config.probe.timeoutMs} } } (failbackAfterMs at its default, 30 s policy); in 7, fallback: { models: ['${FALLBACK_MODEL}'] } (the share is read from the response's model). In 8, "ours + resume" = ours plus resume: true (maxResumptions 2): a broken stream is continued with the text so far as an assistant prefill, through the same policies; "stream continuations" counts the requests the fake got whose messages end with an assistant turn, "text mismatches" the successful finalMessage() whose text differs from the fake's fixed text.
Time: the SDK's latencies include its REAL backoff sleeps (0.38–0.5 s before the first retry, 0.75–1 s before the second; 1 s for retry-after: 1). Our policies run on a clock scaled ×${config.timeScale}: 1 ms real = ${(1 / config.timeScale).toFixed(0)} ms of policy time (our backoff sleeps, retry-after waits, breaker open durations, our timeouts: idleMs ${t.idleMs} = ${ms((t.idleMs ?? 0) * config.timeScale)} real), so our latencies hold waits ${(1 / config.timeScale).toFixed(0)}× shorter than real ones; the fake's latency and stalls are real time. Breaker times are real ms (≈ policy seconds).
`);
  for (const s of selected) console.log(`- ${s.title}: ${s.description}`);
  console.log('');
  console.log(table);
  console.log('');
  for (const d of details) console.log(d);
  console.log('');
  for (const v of verdicts) console.log(v);
}

await main();
