#!/usr/bin/env node
/**
 * `claude-otel-middleware demo|chaos`: see `USAGE` in ./args.ts. Exit status: 0 done (also after
 * Ctrl-C, with the summary so far), 1 failure, 2 bad command line or scenario, 3 missing package.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { VERSION } from '../version.js';
import {
  CHAOS_USAGE,
  type ChaosArgs,
  DEMO_USAGE,
  type DemoArgs,
  parseCli,
  USAGE,
  UsageError,
} from './args.js';
import { startChaos } from './chaos.js';
import { type DemoTarget, REAL_REQUESTS, runDemo } from './demo.js';
import { loadDemoDependencies, MissingDependencyError } from './deps.js';
import { collectorAnswers, type Export, otlpEndpoint, startExport } from './otlp.js';
import { loadScenario, type Scenario, ScenarioError } from './scenario.js';
import { createDemoTelemetry, formatProgress, formatSummary } from './summary.js';
import { formatTraces } from './traces.js';

/** Where the CLI writes; tests pass their own. */
export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
  /** Whether `out` is a terminal (then the progress line is rewritten in place). */
  tty: boolean;
  /** Terminal width, when `tty`. */
  columns?: number | undefined;
  env: NodeJS.ProcessEnv;
}

const processIo: Io = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  tty: process.stdout.isTTY === true,
  get columns() {
    return process.stdout.columns;
  },
  env: process.env,
};

/** Resolves on the first SIGINT/SIGTERM (a second one exits at once with 130). */
function interrupted(): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const onSignal = (): void => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

async function demo(args: DemoArgs, io: Io): Promise<number> {
  let target: DemoTarget;
  let scenario: Scenario | undefined;
  if (args.real) {
    const apiKey = io.env.ANTHROPIC_API_KEY?.trim();
    if (!apiKey) {
      io.err(
        'demo --real sends a few short requests to the real Claude API and needs an API key:\n' +
          '  ANTHROPIC_API_KEY=sk-ant-… npx claude-otel-middleware demo --real\n' +
          'Without --real the demo runs against the built-in fake API and needs no key.\n',
      );
      return 2;
    }
    target = { kind: 'real', apiKey, baseURL: io.env.ANTHROPIC_BASE_URL || undefined };
  } else {
    scenario = await loadScenario(args.scenario);
    target = { kind: 'fake', scenario };
  }
  const { sdk, otel } = await loadDemoDependencies();
  const durationS = args.duration ?? (scenario ? scenario.duration : 60);
  const telemetry = createDemoTelemetry(otel);

  const endpoint = otlpEndpoint(io.env);
  let exporting: Export | undefined;
  let providers: {
    tracerProvider?: InstanceType<typeof otel.trace.TracerProvider>;
    meterProvider?: InstanceType<typeof otel.metrics.MeterProvider>;
  } = {};
  if (await collectorAnswers(endpoint)) {
    const started = await startExport(otel, endpoint, telemetry);
    if ('missing' in started) {
      io.out(
        `OTLP: a collector answers at ${endpoint}, but exporting needs more packages: ${started.missing}\n`,
      );
    } else {
      exporting = started;
      io.out(
        `OTLP: exporting traces and metrics to ${endpoint} (Jaeger: http://localhost:16686, Grafana: http://localhost:3000)\n`,
      );
    }
  } else {
    io.out(`OTLP: no collector at ${endpoint}; not exporting (start one with \`docker compose up -d\`).\n`);
  }
  if (exporting === undefined) {
    providers = {
      tracerProvider: new otel.trace.TracerProvider({ spanProcessors: [telemetry.spanProcessor] }),
      meterProvider: new otel.metrics.MeterProvider({ readers: [telemetry.metricReader] }),
    };
  }

  const title = scenario
    ? `Scenario ${scenario.name}: ${scenario.description}`
    : `Real API: up to ${REAL_REQUESTS} short requests to claude-haiku-4-5`;
  io.out(`${title}\n`);
  io.out(
    `Policies: retry (3 attempts, budget), breaker (per region|model), timeouts, regions (primary → secondary, probes), model fallback (sonnet → haiku), cache, stream resume\n`,
  );
  io.out(
    `Running for ${durationS} s with ${args.concurrency} in flight, seed ${args.seed} (Ctrl-C stops early)…\n`,
  );

  const stop = interrupted();
  let lastPrinted = 0;
  let progressShown = false;
  try {
    const result = await runDemo({
      sdk,
      target,
      durationS,
      concurrency: args.concurrency,
      seed: args.seed,
      telemetry,
      signal: stop.signal,
      ...providers,
      onStart: (regions) => {
        if (regions.length > 0)
          io.out(`Fake regions: ${regions.map((r) => `${r.name} ${r.url}`).join(', ')}\n`);
      },
      onProgress: (p) => {
        const line = formatProgress(p, durationS);
        if (io.tty) {
          // One terminal line, rewritten in place (a wrapped line could not be).
          const width = Math.max(20, (io.columns ?? 200) - 1);
          io.out(`\r\x1b[2K${line.length > width ? `${line.slice(0, width - 1)}…` : line}`);
          progressShown = true;
        } else if (p.elapsedS - lastPrinted >= 2) {
          lastPrinted = p.elapsedS;
          io.out(`${line}\n`);
        }
      },
    });
    if (progressShown) io.out('\n');
    const stoppedNote = result.stopped ? ' (stopped early: the summary so far)' : '';
    io.out(`\n${formatSummary(result.summary, `Summary${stoppedNote}`)}\n`);
    if (result.regions.length > 0) {
      const received = result.regions
        .map((r) => {
          const messages = r.requests.filter((q) => q.path === '/v1/messages');
          const faults = messages.filter(
            (q) => q.fault?.status !== undefined || q.fault?.drop || q.fault?.sseError || q.fault?.stall,
          ).length;
          return `${r.name} ${messages.length} (${faults} with a fault)`;
        })
        .join(', ');
      io.out(`The fake API received: ${received}.\n`);
    }
    if (exporting === undefined) {
      io.out(
        `\nTraces of this run (from the in-process span processor; with a collector, see them in Jaeger)\n\n`,
      );
      io.out(`${formatTraces(telemetry.traces)}\n`);
    }
    if (exporting) io.out('Traces: http://localhost:16686 (service claude-otel-middleware-demo)\n');
    return 0;
  } finally {
    stop.dispose();
    await exporting?.shutdown();
    await providers.tracerProvider?.shutdown();
    await providers.meterProvider?.shutdown();
  }
}

async function chaos(args: ChaosArgs, io: Io): Promise<number> {
  const scenario = await loadScenario(args.scenario);
  let server: Awaited<ReturnType<typeof startChaos>>;
  try {
    server = await startChaos({
      scenario,
      upstream: args.upstream,
      host: args.host,
      port: args.port,
      seed: args.seed,
      region: args.region,
      log: args.quiet ? undefined : (line) => io.out(`${line}\n`),
      verbose: args.verbose,
    });
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      throw new UsageError(
        `cannot listen on ${args.host}:${args.port} (${String(code)}); choose another --port or --host`,
      );
    }
    throw error;
  }
  const stop = interrupted();
  io.out(
    `chaos: ${args.upstream ? `proxy to ${args.upstream}` : 'fake Claude API'} on ${server.url}, scenario ${scenario.name}${scenario.description ? ` (${scenario.description})` : ''}\n`,
  );
  io.out(`Point your app at it:  ANTHROPIC_BASE_URL=${server.url} node your-app.js   (Ctrl-C stops)\n`);
  try {
    await new Promise<void>((resolve) =>
      stop.signal.addEventListener('abort', () => resolve(), { once: true }),
    );
  } finally {
    stop.dispose();
    await server.close();
  }
  const s = server.stats();
  io.out(`\nchaos: ${s.requests} requests, ${s.faults} with a fault, ${s.passedThrough} answered normally\n`);
  return 0;
}

/** Runs the CLI; returns the exit status. */
export async function main(argv: readonly string[], io: Io = processIo): Promise<number> {
  try {
    const args = parseCli(argv);
    switch (args.command) {
      case 'help':
        io.out(`${args.topic === 'demo' ? DEMO_USAGE : args.topic === 'chaos' ? CHAOS_USAGE : USAGE}\n`);
        return 0;
      case 'version':
        io.out(`${VERSION}\n`);
        return 0;
      case 'demo':
        return await demo(args, io);
      case 'chaos':
        return await chaos(args, io);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`claude-otel-middleware: ${error.message}\nRun \`claude-otel-middleware --help\` for usage.\n`);
      return 2;
    }
    if (error instanceof ScenarioError) {
      io.err(`claude-otel-middleware: invalid scenario: ${error.message}\n`);
      return 2;
    }
    if (error instanceof MissingDependencyError) {
      io.err(`claude-otel-middleware: ${error.message}\n`);
      return 3;
    }
    io.err(
      `claude-otel-middleware: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    return 1;
  }
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`${String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
