/**
 * `npm run bench:sim`: the deterministic virtual-time simulator of the resilience scenarios (see
 * bench/sim/simulate.ts) — the real SDK, a cockatiel stack, our policies with the old defaults and
 * with holding, the fake API in memory, every timer on one virtual clock. Same inputs, same table.
 * Prints Markdown; progress goes to stderr.
 *
 *   npm run bench:sim
 *   SIM_ONLY=outage,burst SIM_SEEDS=1 SIM_GRID=0 npm run bench:sim
 *
 * Environment: SIM_REQUESTS (300), SIM_SEEDS (1,2,3), SIM_GRID (1: also the 9-shape grid),
 * SIM_GRID_SEEDS (1), SIM_ONLY (scenario keys), SIM_TIME_SCALE (0.01: harness ms per world ms).
 */
import { simReport } from './sim/report.js';
import type { Shape } from './sim/simulate.js';

const list = (name: string, fallback: number[]): number[] =>
  process.env[name] ? (process.env[name] as string).split(',').map((s) => Number(s.trim())) : fallback;

const grid: Shape[] = [];
for (const latencyMs of [20, 50, 80]) {
  for (const [intervalMs, concurrency] of [
    [4, 16],
    [8, 8],
    [16, 4],
  ] as const) {
    grid.push({ latencyMs, intervalMs, concurrency });
  }
}

const started = performance.now();
const report = await simReport({
  requests: Number(process.env.SIM_REQUESTS ?? 300),
  seeds: list('SIM_SEEDS', [1, 2, 3]),
  shape: { latencyMs: 40, intervalMs: 8, concurrency: 8 },
  grid: process.env.SIM_GRID === '0' ? [] : grid,
  gridSeeds: list('SIM_GRID_SEEDS', [1]),
  timeScale: Number(process.env.SIM_TIME_SCALE ?? 0.01),
  only: process.env.SIM_ONLY?.split(',').map((s) => s.trim()),
  progress: (line) => void process.stderr.write(`${line}\n`),
});
console.log(report.markdown);
console.log(
  `\nNode ${process.version}; ${((performance.now() - started) / 1000).toFixed(0)} s of real time.`,
);
