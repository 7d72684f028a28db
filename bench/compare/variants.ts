/**
 * The options `bench:compare` puts side by side, each set up alone in its own process (some patch
 * globals: the SDK's prototype, undici's diagnostics channels). Every variant calls the API through
 * the real `@anthropic-ai/sdk`; the SDK's native tracing is off (`openTelemetry: false`) except in
 * the variant that measures it. The packages of the anchors are imported only when their variant is
 * set up.
 */
import type Anthropic from '@anthropic-ai/sdk';
import type { MeterProvider } from '@opentelemetry/sdk-metrics';
import type { TracerProvider } from '@opentelemetry/sdk-trace';
import type { ClaudeFetchOptions } from '../../src/index.js';
import { FALLBACK_MODEL } from '../resilience/scenarios.js';

export const VARIANTS = [
  'bare',
  'sdk-native',
  'undici',
  'openllmetry',
  'ours',
  'ours-all',
  'cockatiel',
  'bare-aa',
] as const;
export type VariantName = (typeof VARIANTS)[number];

export const VARIANT_LABEL: Record<VariantName, string> = {
  bare: '1. bare global fetch',
  'sdk-native': '2. SDK native tracing',
  undici: '3. instrumentation-undici',
  openllmetry: '4. OpenLLMetry (instrumentation-anthropic)',
  ours: '5. ours, instrumentation only',
  'ours-all': '6. ours, all policies',
  cockatiel: 'cockatiel stack (no telemetry of its own)',
  'bare-aa': 'A/A: bare global fetch again',
};

/** What each variant is, for the report. */
export const VARIANT_SETUP: Record<VariantName, string> = {
  bare: "`new Anthropic({ openTelemetry: false })`, Node's global fetch",
  'sdk-native': '`new Anthropic({ openTelemetry: { tracerProvider } })` (call spans)',
  undici:
    '`new UndiciInstrumentation()` with the tracer and meter providers, enabled; the SDK with `openTelemetry: false`',
  openllmetry:
    '`new AnthropicInstrumentation()` (defaults: content traced) with the tracer provider, `manuallyInstrument(…)` with the SDK’s `Messages`, `Beta`, `APIPromise` and a stand-in `Completions` (ESM: its require hook never sees the SDK; SDK 1.x has no `Anthropic.Completions`, which it patches too); the SDK with `openTelemetry: false`',
  ours: '`createClaudeFetch({ tracerProvider, meterProvider })`; the SDK with `openTelemetry: false`',
  'ours-all':
    '`createClaudeFetch({ …, retry: true, breaker: true, timeouts: { connectMs: 30 s, firstChunkMs: 30 s, idleMs: 20 s }, fallback: { models: [claude-haiku-4-5] }, cache: true, resume: true })` (no `regions`: it needs a second endpoint); the SDK with `openTelemetry: false`',
  cockatiel:
    "cockatiel's README stack (retry, breaker, timeout) around each SDK call, the SDK with `maxRetries: 0` and `openTelemetry: false`",
  'bare-aa': 'the same as 1, in another process: the noise floor',
};

export interface VariantRuntime {
  /** A client of the variant for the fake at `baseURL`. */
  client(baseURL: string): Anthropic;
  /** Runs one SDK call, through the variant's call policy if it has one. */
  run<T>(fn: (signal?: AbortSignal) => Promise<T>): Promise<T>;
}

export interface Providers {
  tracerProvider: TracerProvider;
  meterProvider: MeterProvider;
  /** Our policies' clock (the telemetry workload scales time, as the resilience benchmark does). */
  clock?: ClaudeFetchOptions['clock'];
  /** cockatiel's durations, real ms per ms. */
  timeScale?: number;
}

/** Sets `variant` up in this process (once per process). */
export async function setupVariant(variant: VariantName, providers: Providers): Promise<VariantRuntime> {
  const sdk = await import('@anthropic-ai/sdk');
  const { tracerProvider, meterProvider } = providers;
  const direct = <T>(fn: (signal?: AbortSignal) => Promise<T>): Promise<T> => fn();
  const plain = (options: ConstructorParameters<typeof Anthropic>[0] = {}) => ({
    client: (baseURL: string) =>
      new sdk.Anthropic({ apiKey: 'bench-key', baseURL, openTelemetry: false, ...options }),
    run: direct,
  });
  switch (variant) {
    case 'bare':
    case 'bare-aa':
      return plain();
    case 'sdk-native':
      return plain({ openTelemetry: { tracerProvider } });
    case 'undici': {
      const { UndiciInstrumentation } = await import('@opentelemetry/instrumentation-undici');
      const instrumentation = new UndiciInstrumentation();
      instrumentation.setTracerProvider(tracerProvider);
      instrumentation.setMeterProvider(meterProvider);
      instrumentation.enable();
      return plain();
    }
    case 'openllmetry': {
      const { AnthropicInstrumentation } = await import('@traceloop/instrumentation-anthropic');
      const instrumentation = new AnthropicInstrumentation();
      instrumentation.setTracerProvider(tracerProvider);
      // It patches `Anthropic.Completions` too, which SDK 1.x no longer has (the legacy Text
      // Completions API): given the SDK module as it is, `manuallyInstrument` throws. It gets the
      // module's `Messages`, `Beta` and `APIPromise`, and a stand-in for `Completions`.
      const shape = {
        APIPromise: sdk.APIPromise,
        Anthropic: {
          Completions: class {
            create(): void {}
          },
          Messages: sdk.Anthropic.Messages,
          Beta: sdk.Anthropic.Beta,
        },
      };
      instrumentation.manuallyInstrument(
        shape as unknown as Parameters<typeof instrumentation.manuallyInstrument>[0],
      );
      return plain();
    }
    case 'ours':
    case 'ours-all': {
      const lib = (await import(
        new URL('../../dist/index.js', import.meta.url).href
      )) as typeof import('../../src/index.js');
      const fetch = lib.createClaudeFetch({
        tracerProvider,
        meterProvider,
        ...(variant === 'ours-all' && {
          retry: true,
          breaker: true,
          timeouts: { connectMs: 30_000, firstChunkMs: 30_000, idleMs: 20_000 },
          fallback: { models: [FALLBACK_MODEL] },
          cache: true,
          resume: true,
          ...(providers.clock && { clock: providers.clock }),
        }),
      });
      return plain({ fetch });
    }
    case 'cockatiel': {
      const { cockatielStack } = await import('./cockatiel.js');
      const { policy } = cockatielStack(providers.timeScale ?? 1, 'cockatiel');
      return { client: plain({ maxRetries: 0 }).client, run: (fn) => policy.execute(fn) };
    }
  }
}
