/**
 * Command-line arguments of `claude-otel-middleware demo|chaos`, parsed into typed options; a bad
 * argument is a {@link UsageError} naming it.
 */
import { parseArgs } from 'node:util';

/** A bad command line: the message says which argument and why. Exit status 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface DemoArgs {
  command: 'demo';
  /** A shipped scenario name or a scenario file. Default `tour`. */
  scenario: string;
  /** Seconds; default: the scenario's `duration`. */
  duration: number | undefined;
  /** Requests in flight. Default 4 (2 with `--real`). */
  concurrency: number;
  /** Seed of the workload and the fault draws. Default 1. */
  seed: number;
  /** Send a small workload to the real API (needs `ANTHROPIC_API_KEY`). */
  real: boolean;
}

export interface ChaosArgs {
  command: 'chaos';
  /** A shipped scenario name or a scenario file. Default `flaky`. */
  scenario: string;
  /** Forward to this upstream (fault-injecting proxy); without it the fake API answers. */
  upstream: string | undefined;
  host: string;
  /** Default 8787; 0 picks a free port. */
  port: number;
  seed: number;
  /** Rules with a `region` apply when it equals this. Default `primary`. */
  region: string;
  /** Log passthrough requests too, not only faults. */
  verbose: boolean;
  /** Log nothing per request. */
  quiet: boolean;
}

export type CliArgs =
  | DemoArgs
  | ChaosArgs
  | { command: 'help'; topic: 'demo' | 'chaos' | undefined }
  | { command: 'version' };

export const USAGE = `Usage: claude-otel-middleware <command> [options]

Commands:
  demo    Run a workload through the real Anthropic SDK with every resilience policy on, against the
          fake Claude API playing two regions under a fault scenario; live progress and a summary.
  chaos   Serve the fake Claude API, or a fault-injecting proxy in front of a real upstream, with
          the faults of a scenario file: point ANTHROPIC_BASE_URL at it.

Run \`claude-otel-middleware <command> --help\` for its options.`;

export const DEMO_USAGE = `Usage: claude-otel-middleware demo [options]

Options:
  --scenario <name|file>  tour (default), overload, rate-limit, broken-streams, outage,
                          model-overload, flaky, or a scenario file (.yaml / .json)
  --duration <seconds>    run length (default: the scenario's, 30 s for tour); the scenario's
                          timeline scales with it
  --concurrency <n>       requests in flight (default 4; 2 with --real)
  --seed <n>              seed of the workload and of the fault draws (default 1)
  --real                  send a small, cheap workload (6 short requests to claude-haiku-4-5) to
                          the real API; needs ANTHROPIC_API_KEY
  -h, --help              this help

Exports traces and metrics over OTLP/HTTP to OTEL_EXPORTER_OTLP_ENDPOINT (default
http://localhost:4318) when a collector answers there. Ctrl-C stops early with the summary so far.`;

export const CHAOS_USAGE = `Usage: claude-otel-middleware chaos [options]

Options:
  --scenario <name|file>  a scenario file (.yaml / .json) or a shipped scenario (default flaky)
  --upstream <url>        forward to this API (e.g. https://api.anthropic.com) and inject faults
                          into its traffic; without it the fake Claude API answers
  --port <n>              port to listen on (default 8787; 0 = any free port)
  --host <address>        interface to listen on (default 127.0.0.1)
  --seed <n>              seed of the fault draws (default 1)
  --region <name>         rules with a region apply when it is this one (default primary)
  --verbose               log every request, not only the faults
  --quiet                 log no request
  -h, --help              this help

Then: ANTHROPIC_BASE_URL=http://127.0.0.1:8787 node your-app.js`;

function integer(flag: string, raw: string | undefined, min: number, fallback: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(value) || value < min) {
    throw new UsageError(`${flag} must be an integer ≥ ${min}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

function positive(flag: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value) || value <= 0) {
    throw new UsageError(`${flag} must be a positive number of seconds, got ${JSON.stringify(raw)}`);
  }
  return value;
}

function parse(
  argv: string[],
  options: Record<string, { type: 'string' | 'boolean'; short?: string }>,
): Record<string, string | boolean | undefined> {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values as Record<
      string,
      string | boolean | undefined
    >;
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

/** Parses `argv` (without `node` and the script). */
export function parseCli(argv: readonly string[]): CliArgs {
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    const topic = rest[0] === 'demo' || rest[0] === 'chaos' ? rest[0] : undefined;
    return { command: 'help', topic };
  }
  if (command === '--version' || command === '-v' || command === 'version') return { command: 'version' };
  if (command === 'demo') {
    const v = parse(rest, {
      scenario: { type: 'string' },
      duration: { type: 'string' },
      concurrency: { type: 'string' },
      seed: { type: 'string' },
      real: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    });
    if (v.help) return { command: 'help', topic: 'demo' };
    const real = v.real === true;
    if (real && v.scenario !== undefined) {
      throw new UsageError(
        '--scenario does not apply with --real (no faults are injected into the real API)',
      );
    }
    return {
      command: 'demo',
      scenario: (v.scenario as string | undefined) ?? 'tour',
      duration: positive('--duration', v.duration as string | undefined),
      concurrency: integer('--concurrency', v.concurrency as string | undefined, 1, real ? 2 : 4),
      seed: integer('--seed', v.seed as string | undefined, 0, 1),
      real,
    };
  }
  if (command === 'chaos') {
    const v = parse(rest, {
      scenario: { type: 'string' },
      upstream: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      seed: { type: 'string' },
      region: { type: 'string' },
      verbose: { type: 'boolean' },
      quiet: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    });
    if (v.help) return { command: 'help', topic: 'chaos' };
    const upstream = v.upstream as string | undefined;
    if (upstream !== undefined) {
      let url: URL;
      try {
        url = new URL(upstream);
      } catch {
        throw new UsageError(`--upstream must be an http(s) URL, got ${JSON.stringify(upstream)}`);
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        throw new UsageError(`--upstream must be an http(s) URL, got ${JSON.stringify(upstream)}`);
      }
    }
    const port = integer('--port', v.port as string | undefined, 0, 8787);
    if (port > 65_535) throw new UsageError(`--port must be ≤ 65535, got ${port}`);
    if (v.verbose && v.quiet) throw new UsageError('--verbose and --quiet exclude each other');
    const region = (v.region as string | undefined) ?? 'primary';
    if (region === '') throw new UsageError('--region must not be empty');
    return {
      command: 'chaos',
      scenario: (v.scenario as string | undefined) ?? 'flaky',
      upstream,
      host: (v.host as string | undefined) ?? '127.0.0.1',
      port,
      seed: integer('--seed', v.seed as string | undefined, 0, 1),
      region,
      verbose: v.verbose === true,
      quiet: v.quiet === true,
    };
  }
  throw new UsageError(`unknown command ${JSON.stringify(command)} (expected demo or chaos)`);
}
