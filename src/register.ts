/**
 * `claude-otel-middleware/register`: the process-wide OpenTelemetry bootstrap.
 *
 * ```sh
 * node --import claude-otel-middleware/register app.js
 * ```
 *
 * Starts the OpenTelemetry Node SDK with OTLP/HTTP exporters for traces, metrics and logs (see `setup()` in
 * `claude-otel-middleware/setup` for the options and the `OTEL_*` variables it reads), and flushes it when the
 * process ends: on `beforeExit`, and on SIGINT/SIGTERM — where, if the application has no handler of its own
 * for the signal, it then ends the process the way the signal would have. Every exit path waits at most
 * 5 s for the flush ({@link EXIT_FLUSH_TIMEOUT_MS}), even when no collector answers.
 * Needs `@opentelemetry/sdk-node` (an optional peer dependency).
 */
import type { OtelHandle } from './setup.js';

/**
 * Longest wait for the final flush at exit, on every exit path (the event loop emptied, or a
 * signal): a collector that does not answer never keeps the process alive longer than this.
 */
export const EXIT_FLUSH_TIMEOUT_MS = 5000;

async function start(): Promise<OtelHandle | undefined> {
  let setupModule: typeof import('./setup.js');
  try {
    setupModule = await import('./setup.js');
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    if (code === 'ERR_MODULE_NOT_FOUND') {
      process.emitWarning(
        'claude-otel-middleware/register needs @opentelemetry/sdk-node: npm install @opentelemetry/sdk-node. ' +
          'Telemetry is not exported.',
        { code: 'CLAUDE_OTEL_REGISTER' },
      );
      return undefined;
    }
    throw error;
  }
  const handle = setupModule.setup();
  installExitHooks(handle);
  return handle;
}

function installExitHooks(handle: OtelHandle): void {
  process.once('beforeExit', () => {
    // The exporters' retries (some 25 s against a collector that accepts and never answers) would
    // keep the loop alive: past the bound, the process ends as it was about to (its exitCode).
    const timer = setTimeout(() => process.exit(), EXIT_FLUSH_TIMEOUT_MS);
    timer.unref();
    void handle.shutdown().finally(() => clearTimeout(timer));
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      if (process.listenerCount(signal) > 0) {
        // The application handles this signal itself and decides when to exit: export what we have.
        void handle.forceFlush();
        return;
      }
      const timer = setTimeout(() => process.kill(process.pid, signal), EXIT_FLUSH_TIMEOUT_MS);
      timer.unref();
      void handle.shutdown().finally(() => {
        clearTimeout(timer);
        process.kill(process.pid, signal);
      });
    });
  }
}

/** The SDK started by this module (undefined when `@opentelemetry/sdk-node` is not installed). */
export const otel: OtelHandle | undefined = await start();
