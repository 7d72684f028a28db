/**
 * The overhead part of `bench:compare`: every variant in its own process (bench/compare/child.ts),
 * driven over IPC by this one in alternating rounds — round r runs the variants in an order rotated
 * by r and reversed every other round, one at a time — against the same fake API, itself in another
 * process. Medians, and ratios against bare fetch (run in the same rounds); an A/A variant (bare
 * fetch again, in another process) shows the noise floor.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { median, percentile, startFake } from '../shared.js';
import type { MemoryResult, Task, TaskResult } from './child.js';
import { VARIANT_LABEL, type VariantName } from './variants.js';

const CHILD = fileURLToPath(new URL('./child.ts', import.meta.url));

function spawnChild(args: string[]): ChildProcess {
  return spawn(process.execPath, ['--expose-gc', '--import', 'tsx', CHILD, ...args], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

/** The next `result` message of a child (or its error, or its exit). */
export function nextResult<T>(child: ChildProcess): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onMessage = (message: { result?: T; error?: string }) => {
      if (message.result === undefined && message.error === undefined) return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (message.error !== undefined) reject(new Error(message.error));
      else resolve(message.result as T);
    };
    const onExit = (code: number | null) => {
      child.off('message', onMessage);
      reject(new Error(`child exited with ${code}`));
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

/** Runs `args` in a fresh child and returns its one result. */
export function runChild<T>(args: string[]): Promise<T> {
  return nextResult<T>(spawnChild(args));
}

class VariantProcess {
  private constructor(
    readonly variant: VariantName,
    private readonly child: ChildProcess,
  ) {}

  static async start(variant: VariantName): Promise<VariantProcess> {
    const child = spawnChild([variant, 'overhead']);
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('exit', (code) => reject(new Error(`${variant} exited with ${code}`)));
    });
    return new VariantProcess(variant, child);
  }

  run(task: Task): Promise<TaskResult> {
    const result = nextResult<TaskResult>(this.child);
    this.child.send({ task });
    return result;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.child.once('exit', () => resolve());
      this.child.send({ exit: true });
    });
  }
}

export interface OverheadConfig {
  rounds: number;
  /** Non-streamed requests per round at concurrency 32, and at concurrency 1. */
  requests32: number;
  requests1: number;
  /** 10 000-event streams per round. */
  streams: number;
  streamEvents: number;
  /** Megabytes of the huge stream, and fresh processes per variant. */
  hugeMb: number;
  memoryRuns: number;
}

export interface Workload {
  key: 'c1' | 'c32' | 'stream';
  title: string;
  /** Attempts (or streams) per round. */
  per: number;
  unit: 'attempt' | 'stream';
}

export interface OverheadRow {
  workload: Workload;
  variant: VariantName;
  wallMs: number;
  cpuUs: number;
  /**
   * Against bare fetch in the same round (paired, so that load drifting between rounds cancels
   * out): the median, 25th and 75th percentiles over the rounds of the wall-time ratio − 1, and the
   * median CPU difference per attempt (or stream), µs.
   */
  wallDelta: { p25: number; median: number; p75: number };
  cpuDeltaUs: number;
}

/** The variant order of round `round`: rotated by the round, reversed every other round. */
export function roundOrder<T>(variants: readonly T[], round: number): T[] {
  const shift = round % variants.length;
  const rotated = [...variants.slice(shift), ...variants.slice(0, shift)];
  return round % 2 === 0 ? rotated : rotated.reverse();
}

export async function compareOverhead(
  variants: readonly VariantName[],
  config: OverheadConfig,
  progress: (line: string) => void,
): Promise<OverheadRow[]> {
  const small = await startFake({ seed: 1 });
  const long = await startFake({ seed: 1, text: 'token ', repeat: config.streamEvents, pingEvery: 0 });
  const workloads: Array<Workload & { task: Task }> = [
    {
      key: 'c1',
      title: 'non-streamed, concurrency 1',
      per: config.requests1,
      unit: 'attempt',
      task: { kind: 'nonstream', url: small.url, concurrency: 1, requests: config.requests1 },
    },
    {
      key: 'c32',
      title: 'non-streamed, concurrency 32',
      per: config.requests32,
      unit: 'attempt',
      task: { kind: 'nonstream', url: small.url, concurrency: 32, requests: config.requests32 },
    },
    {
      key: 'stream',
      title: `${config.streamEvents.toLocaleString('en')}-event stream (SDK iterator)`,
      per: config.streams,
      unit: 'stream',
      task: { kind: 'stream', url: long.url, streams: config.streams },
    },
  ];
  const processes: VariantProcess[] = [];
  for (const variant of variants) processes.push(await VariantProcess.start(variant));
  const samples = new Map<string, TaskResult[]>();
  try {
    // Round 0 warms every process up and is discarded.
    for (let round = 0; round <= config.rounds; round++) {
      for (const workload of workloads) {
        for (const p of roundOrder(processes, round)) {
          const result = await p.run(workload.task);
          if (round === 0) continue;
          const key = `${workload.key}|${p.variant}`;
          samples.set(key, [...(samples.get(key) ?? []), result]);
        }
      }
      progress(round === 0 ? 'overhead: warm-up done' : `overhead: round ${round}/${config.rounds}`);
    }
  } finally {
    await Promise.all(processes.map((p) => p.close()));
    await small.close();
    await long.close();
  }
  const rows: OverheadRow[] = [];
  for (const workload of workloads) {
    const bare = samples.get(`${workload.key}|bare`) ?? [];
    for (const variant of variants) {
      const list = samples.get(`${workload.key}|${variant}`) ?? [];
      const ratios = list.map((s, round) => s.wallMs / (bare[round]?.wallMs ?? Number.NaN) - 1);
      const cpuDeltas = list.map((s, round) => (s.cpuUs - (bare[round]?.cpuUs ?? Number.NaN)) / workload.per);
      rows.push({
        workload,
        variant,
        wallMs: median(list.map((s) => s.wallMs)),
        cpuUs: median(list.map((s) => s.cpuUs)),
        wallDelta: { p25: percentile(ratios, 25), median: median(ratios), p75: percentile(ratios, 75) },
        cpuDeltaUs: median(cpuDeltas),
      });
    }
  }
  return rows;
}

export interface MemoryRow {
  variant: VariantName;
  retainedMb: number;
  peakMb: number;
  bytes: number;
  /** Runs that failed, with why. */
  failures: string[];
}

/** Each variant consumes one huge stream in a fresh process, `memoryRuns` times, alternating. */
export async function compareMemory(
  variants: readonly VariantName[],
  config: OverheadConfig,
  progress: (line: string) => void,
): Promise<MemoryRow[]> {
  const text = 'x'.repeat(4000);
  const repeat = Math.ceil((config.hugeMb * 1024 * 1024) / (text.length + 90));
  const fake = await startFake({ seed: 1, text, repeat, pingEvery: 0 });
  const results = new Map<VariantName, MemoryResult[]>();
  const failures = new Map<VariantName, string[]>();
  try {
    for (let run = 0; run < config.memoryRuns; run++) {
      for (const variant of roundOrder(variants, run)) {
        try {
          const result = await runChild<MemoryResult>([variant, 'memory', fake.url]);
          results.set(variant, [...(results.get(variant) ?? []), result]);
        } catch (error) {
          failures.set(variant, [...(failures.get(variant) ?? []), String(error)]);
        }
      }
      progress(`memory: run ${run + 1}/${config.memoryRuns}`);
    }
  } finally {
    await fake.close();
  }
  return variants.map((variant) => {
    const list = results.get(variant) ?? [];
    return {
      variant,
      retainedMb: median(list.map((r) => r.retainedMb)),
      peakMb: median(list.map((r) => r.peakMb)),
      bytes: list[0]?.bytes ?? 0,
      failures: failures.get(variant) ?? [],
    };
  });
}

const signed = (x: number, digits = 1): string => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(digits)}`;

/** The overhead table: per workload, each variant against bare fetch in the same rounds. */
export function overheadTable(rows: readonly OverheadRow[]): string {
  const header = [
    'workload',
    'variant',
    'wall (median)',
    'wall Δ vs bare (median of rounds)',
    'wall Δ, rounds p25 … p75',
    'CPU per attempt / stream',
    'CPU Δ vs bare',
  ];
  const percent = (x: number) => `${signed(x * 100)} %`;
  const body = rows.map((r) => {
    const stream = r.workload.unit === 'stream';
    const cpu = r.cpuUs / r.workload.per;
    const bare = r.variant === 'bare';
    return [
      r.workload.title,
      VARIANT_LABEL[r.variant],
      stream
        ? `${(r.wallMs / r.workload.per).toFixed(1)} ms/stream`
        : `${r.wallMs.toFixed(0)} ms (${((r.wallMs * 1000) / r.workload.per).toFixed(0)} µs/attempt)`,
      bare ? '—' : percent(r.wallDelta.median),
      bare ? '—' : `${percent(r.wallDelta.p25)} … ${percent(r.wallDelta.p75)}`,
      stream ? `${(cpu / 1000).toFixed(2)} ms` : `${cpu.toFixed(0)} µs`,
      bare ? '—' : stream ? `${signed(r.cpuDeltaUs / 1000, 2)} ms` : `${signed(r.cpuDeltaUs, 0)} µs`,
    ];
  });
  return [header, header.map(() => '---'), ...body].map((r) => `| ${r.join(' | ')} |`).join('\n');
}

export function memoryTable(rows: readonly MemoryRow[]): string {
  const header = ['variant', 'retained growth (median sample after GC)', 'peak RSS growth', 'text received'];
  const body = rows.map((r) => [
    VARIANT_LABEL[r.variant],
    r.failures.length > 0 && Number.isNaN(r.retainedMb)
      ? `failed: ${r.failures[0]}`
      : `${r.retainedMb.toFixed(1)} MB${r.failures.length ? ` (${r.failures.length} runs failed)` : ''}`,
    Number.isNaN(r.peakMb) ? '—' : `${r.peakMb.toFixed(1)} MB`,
    `${(r.bytes / 1024 / 1024).toFixed(0)} MB`,
  ]);
  return [header, header.map(() => '---'), ...body].map((r) => `| ${r.join(' | ')} |`).join('\n');
}
