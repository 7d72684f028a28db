/**
 * The CLI's optional dependencies, imported when a command needs them, so that the library never
 * depends on them: a missing one is a {@link MissingDependencyError} that says what to install.
 */

/**
 * Every package the demo may need, for the one-line `npx` that brings them all: the SDK, the
 * OpenTelemetry SDK packages of its in-process telemetry (imported by name, so `sdk-node`'s own
 * copies, which npm may nest, do not count), and `sdk-node` for the export to a collector.
 */
const DEMO_PACKAGES = [
  '@anthropic-ai/sdk',
  '@opentelemetry/sdk-trace',
  '@opentelemetry/sdk-metrics',
  '@opentelemetry/sdk-node',
];

/** A package the command needs is not installed. Exit status 3. */
export class MissingDependencyError extends Error {
  override readonly name = 'MissingDependencyError';
  constructor(
    readonly packages: readonly string[],
    purpose: string,
  ) {
    super(
      `${purpose} needs ${packages.length > 1 ? `${packages.slice(0, -1).join(', ')} and ${packages.at(-1)}` : packages.join('')}, which ${packages.length === 1 ? 'is' : 'are'} not installed.\n` +
        `  Install:  npm install ${packages.join(' ')}\n` +
        `  or run:   npx ${['claude-otel-middleware', ...DEMO_PACKAGES].map((p) => `-p ${p}`).join(' ')} claude-otel-middleware demo`,
    );
  }
}

/** Whether `error` says a module could not be found (ESM or CommonJS). */
export function isModuleNotFound(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
}

export type AnthropicModule = typeof import('@anthropic-ai/sdk');

/** `@anthropic-ai/sdk`, or a {@link MissingDependencyError}. */
export async function loadAnthropic(
  importer: () => Promise<AnthropicModule> = () => import('@anthropic-ai/sdk'),
): Promise<AnthropicModule> {
  try {
    return await importer();
  } catch (error) {
    if (isModuleNotFound(error)) throw new MissingDependencyError(['@anthropic-ai/sdk'], 'The demo');
    throw error;
  }
}

export interface OtelSdk {
  trace: typeof import('@opentelemetry/sdk-trace');
  metrics: typeof import('@opentelemetry/sdk-metrics');
}

/** The OpenTelemetry SDK packages the demo reads its own telemetry with. */
export async function loadOtelSdk(
  importer: () => Promise<OtelSdk> = async () => {
    const [trace, metrics] = await Promise.all([
      import('@opentelemetry/sdk-trace'),
      import('@opentelemetry/sdk-metrics'),
    ]);
    return { trace, metrics };
  },
): Promise<OtelSdk> {
  try {
    return await importer();
  } catch (error) {
    if (isModuleNotFound(error)) {
      throw new MissingDependencyError(
        ['@opentelemetry/sdk-trace', '@opentelemetry/sdk-metrics'],
        'The demo',
      );
    }
    throw error;
  }
}

/**
 * Everything the demo imports: the SDK and the OpenTelemetry SDK packages, or one
 * {@link MissingDependencyError} naming every missing package at once (not one per run).
 */
export async function loadDemoDependencies(
  load: { anthropic?: () => Promise<AnthropicModule>; otel?: () => Promise<OtelSdk> } = {},
): Promise<{ sdk: AnthropicModule; otel: OtelSdk }> {
  const [sdk, otel] = await Promise.allSettled([loadAnthropic(load.anthropic), loadOtelSdk(load.otel)]);
  if (sdk.status === 'fulfilled' && otel.status === 'fulfilled') return { sdk: sdk.value, otel: otel.value };
  const missing: string[] = [];
  for (const result of [sdk, otel]) {
    if (result.status === 'fulfilled') continue;
    if (!(result.reason instanceof MissingDependencyError)) throw result.reason;
    missing.push(...result.reason.packages);
  }
  throw new MissingDependencyError(missing, 'The demo');
}
