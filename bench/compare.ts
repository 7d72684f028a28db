/**
 * `npm run bench:compare`: this library next to what users already know, in one run on one machine.
 *
 * 1. Overhead — bare fetch, the SDK's native tracing, @opentelemetry/instrumentation-undici,
 *    OpenLLMetry's @traceloop/instrumentation-anthropic, ours (instrumentation only, all policies),
 *    each in its own process, in alternating rounds against the fake API in another process: CPU
 *    and wall time per attempt (concurrency 1 and 32), per 10 000-event stream, memory on a huge stream.
 * 2. Resilience — the scenario benchmark (bench/resilience) with the SDK's default retries, a
 *    cockatiel stack (retry + breaker + timeout) and ours.
 * 3. Telemetry coverage — what each option exported for the same workload, from in-memory exporters.
 *
 * Prints Markdown (the tables of BENCHMARKS.md); progress goes to stderr.
 *
 *   npm run bench:compare
 *   BENCH_QUICK=1 npm run bench:compare            # a smoke run: few rounds, small workloads
 *   COMPARE_ONLY=overhead,memory,resilience,coverage npm run bench:compare
 *
 * Environment: BENCH_ROUNDS (11), BENCH_REQUESTS (1000 at concurrency 32; a quarter at concurrency 1),
 * COMPARE_STREAMS (2 streams per round), COMPARE_HUGE_MB (200), COMPARE_MEMORY_RUNS (3),
 * RESILIENCE_REQUESTS (300).
 */
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { type Capture, coverageTable } from './compare/coverage.js';
import {
  compareMemory,
  compareOverhead,
  memoryTable,
  type OverheadRow,
  overheadTable,
  runChild,
} from './compare/overhead.js';
import { compareResilience, resilienceTable } from './compare/resilience.js';
import { VARIANT_LABEL, VARIANT_SETUP, type VariantName } from './compare/variants.js';
import type { WorkloadConfig } from './resilience/harness.js';

const quick = process.env.BENCH_QUICK === '1';
const num = (name: string, full: number, short: number): number => {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? (quick ? short : full) : Number(raw);
  if (!Number.isFinite(value) || value <= 0)
    throw new TypeError(`${name} must be a positive number, got ${raw}`);
  return value;
};
const only = process.env.COMPARE_ONLY?.split(',').map((s) => s.trim());
const wants = (part: string): boolean => !only || only.includes(part);
const progress = (line: string): void => void process.stderr.write(`${line}\n`);

const requests32 = Math.round(num('BENCH_REQUESTS', 1000, 200));
const overheadConfig = {
  rounds: Math.round(num('BENCH_ROUNDS', 11, 2)),
  requests32,
  requests1: Math.max(1, Math.round(requests32 / 4)),
  streams: Math.round(num('COMPARE_STREAMS', 2, 1)),
  streamEvents: 10_000,
  hugeMb: num('COMPARE_HUGE_MB', 200, 20),
  memoryRuns: Math.round(num('COMPARE_MEMORY_RUNS', 3, 1)),
};
const resilienceConfig: WorkloadConfig = {
  requests: Math.round(num('RESILIENCE_REQUESTS', 300, 60)),
  intervalMs: 8,
  concurrency: 8,
  latencyMs: 40,
  seed: 1,
  timeScale: 0.01,
  timeouts: { connectMs: 30_000, firstChunkMs: 30_000, idleMs: 20_000 },
  probe: { intervalMs: 5_000, timeoutMs: 10_000 },
};

const OVERHEAD_VARIANTS: VariantName[] = [
  'bare',
  'sdk-native',
  'undici',
  'openllmetry',
  'ours',
  'ours-all',
  'bare-aa',
];
const COVERAGE_VARIANTS: VariantName[] = [
  'sdk-native',
  'undici',
  'openllmetry',
  'cockatiel',
  'ours',
  'ours-all',
];

function version(name: string): string {
  const path = new URL(`../node_modules/${name}/package.json`, import.meta.url);
  return (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version;
}

function machine(): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const packages = [
    '@anthropic-ai/sdk',
    '@opentelemetry/api',
    '@opentelemetry/sdk-trace',
    '@opentelemetry/sdk-metrics',
    '@opentelemetry/instrumentation-undici',
    '@traceloop/instrumentation-anthropic',
    'cockatiel',
  ];
  const nested = ['api', 'core', 'instrumentation']
    .map(
      (p) =>
        `@opentelemetry/${p} ${version(`@traceloop/instrumentation-anthropic/node_modules/@opentelemetry/${p}`)}`,
    )
    .join(', ');
  const [one, five] = loadavg();
  return [
    `- machine: ${cpus().length} × ${cpu}; Node ${process.version}; load average at the start ${one?.toFixed(2)} (1 min), ${five?.toFixed(2)} (5 min)`,
    `- packages: ${packages.map((p) => `${p} ${version(p)}`).join(', ')}`,
    `- OpenLLMetry installs its own (nested, the OpenTelemetry JS 2.x line): ${nested}; instrumentation-undici uses the project's @opentelemetry/instrumentation ${version('@opentelemetry/instrumentation')} and core ${version('@opentelemetry/core')}; \`npm ls\` reports no peer conflict`,
    `- settings: ${quick ? 'BENCH_QUICK=1 (smoke run), ' : ''}${overheadConfig.rounds} rounds (+1 warm-up), ${overheadConfig.requests32} requests/round at concurrency 32, ${overheadConfig.requests1} at concurrency 1, ${overheadConfig.streams} × ${overheadConfig.streamEvents.toLocaleString('en')}-event streams/round, a ${overheadConfig.hugeMb} MB stream × ${overheadConfig.memoryRuns} fresh processes per variant; resilience ${resilienceConfig.requests} requests per scenario and variant`,
  ].join('\n');
}

function verdicts(rows: readonly OverheadRow[]): string[] {
  const get = (key: OverheadRow['workload']['key'], variant: VariantName) =>
    rows.find((r) => r.workload.key === key && r.variant === variant);
  const pct = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)} %`;
  const out: string[] = [];
  for (const key of ['c1', 'c32', 'stream'] as const) {
    const ours = get(key, 'ours');
    const aa = get(key, 'bare-aa');
    if (!ours) continue;
    const d = ours.wallDelta.median;
    const noise = aa
      ? ` (A/A ${pct(aa.wallDelta.median)}, rounds ${pct(aa.wallDelta.p25)} … ${pct(aa.wallDelta.p75)})`
      : '';
    const goal = key === 'stream' ? 0.05 : 0.03;
    // The noise floor: when bare fetch against itself spreads wider than the goal, a verdict on wall time is luck.
    const inconclusive = aa !== undefined && aa.wallDelta.p75 - aa.wallDelta.p25 > 2 * goal;
    out.push(
      `- ${ours.workload.title}: ours (5) wall ${pct(d)} vs bare fetch${noise}; goal ≤ ${goal * 100} %: ${d <= goal ? 'MET' : 'MISSED'}${inconclusive ? ' — inconclusive: the A/A spread is wider than the goal' : ''}`,
    );
    if (key === 'stream') continue;
    for (const anchor of ['undici', 'openllmetry'] as const) {
      const a = get(key, anchor);
      if (!a) continue;
      out.push(
        `- ${ours.workload.title}: CPU per attempt over bare fetch, ours (5) ${ours.cpuDeltaUs.toFixed(0)} µs vs ${VARIANT_LABEL[anchor]} ${a.cpuDeltaUs.toFixed(0)} µs (goal: cheaper): ${ours.cpuDeltaUs < a.cpuDeltaUs ? 'MET' : 'MISSED'}`,
      );
    }
  }
  return out;
}

async function main(): Promise<void> {
  const started = performance.now();
  const out: string[] = ['## Run', '', machine(), ''];
  out.push('### Variants', '');
  for (const v of [...OVERHEAD_VARIANTS, 'cockatiel' as const])
    out.push(`- ${VARIANT_LABEL[v]}: ${VARIANT_SETUP[v]}`);
  out.push('');
  if (wants('overhead')) {
    const rows = await compareOverhead(OVERHEAD_VARIANTS, overheadConfig, progress);
    out.push('### Overhead', '', overheadTable(rows), '', ...verdicts(rows), '');
  }
  if (wants('memory')) {
    const rows = await compareMemory(
      OVERHEAD_VARIANTS.filter((v) => v !== 'bare-aa'),
      overheadConfig,
      progress,
    );
    out.push(`### Memory, one ${overheadConfig.hugeMb} MB stream`, '', memoryTable(rows), '');
  }
  if (wants('resilience')) {
    // A 1.5 s stall of policy time (below idleMs), in real ms.
    const stallMs = 1500 * resilienceConfig.timeScale;
    const { rows, cockatielSettings } = await compareResilience(resilienceConfig, stallMs, progress);
    out.push('### Resilience', '', `cockatiel stack: ${cockatielSettings}.`, '', resilienceTable(rows), '');
    for (const r of rows) out.push(`- ${r.scenario}, ${r.variant}: failures ${r.failures || 'none'}`);
    out.push('');
  }
  if (wants('coverage')) {
    const captures = await Promise.all(
      COVERAGE_VARIANTS.map((v) => runChild<Capture>([v, 'telemetry', VARIANT_LABEL[v]])),
    );
    out.push(
      '### What each one recorded (generated from the exported telemetry)',
      '',
      coverageTable(captures),
      '',
    );
  }
  const [one] = loadavg();
  out.push(
    `Total ${((performance.now() - started) / 1000).toFixed(0)} s; load average at the end ${one?.toFixed(2)} (1 min).`,
  );
  console.log(out.join('\n'));
}

await main();
