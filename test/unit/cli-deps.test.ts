import { describe, expect, it } from 'vitest';
import {
  loadAnthropic,
  loadDemoDependencies,
  loadOtelSdk,
  MissingDependencyError,
} from '../../src/cli/deps.js';

const notFound = (name: string): Error =>
  Object.assign(new Error(`Cannot find package '${name}' imported from …`), { code: 'ERR_MODULE_NOT_FOUND' });

describe('optional packages of the CLI', () => {
  it('a missing @anthropic-ai/sdk is a MissingDependencyError that says how to install it', async () => {
    const error = await loadAnthropic(() => Promise.reject(notFound('@anthropic-ai/sdk'))).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(MissingDependencyError);
    expect((error as MissingDependencyError).packages).toEqual(['@anthropic-ai/sdk']);
    expect((error as Error).message).toContain('npm install @anthropic-ai/sdk');
    expect((error as Error).message).toContain(
      'npx -p claude-otel-middleware -p @anthropic-ai/sdk -p @opentelemetry/sdk-trace -p @opentelemetry/sdk-metrics -p @opentelemetry/sdk-node claude-otel-middleware demo',
    );
  });

  it('missing OpenTelemetry SDK packages name both', async () => {
    const error = await loadOtelSdk(() => Promise.reject(notFound('@opentelemetry/sdk-trace'))).catch(
      (e: unknown) => e,
    );
    expect((error as Error).message).toContain(
      'npm install @opentelemetry/sdk-trace @opentelemetry/sdk-metrics',
    );
  });

  it('the demo names every missing package in one message, not one per run', async () => {
    const error = await loadDemoDependencies({
      anthropic: () => Promise.reject(notFound('@anthropic-ai/sdk')),
      otel: () => Promise.reject(notFound('@opentelemetry/sdk-trace')),
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MissingDependencyError);
    expect((error as MissingDependencyError).packages).toEqual([
      '@anthropic-ai/sdk',
      '@opentelemetry/sdk-trace',
      '@opentelemetry/sdk-metrics',
    ]);
    expect((error as Error).message).toContain(
      'The demo needs @anthropic-ai/sdk, @opentelemetry/sdk-trace and @opentelemetry/sdk-metrics, which are not installed.',
    );
    expect((error as Error).message).toContain(
      'npm install @anthropic-ai/sdk @opentelemetry/sdk-trace @opentelemetry/sdk-metrics',
    );
    const boom = new SyntaxError('bad module');
    await expect(
      loadDemoDependencies({
        anthropic: () => Promise.reject(notFound('@anthropic-ai/sdk')),
        otel: () => Promise.reject(boom),
      }),
    ).rejects.toBe(boom);
    const both = await loadDemoDependencies();
    expect(typeof both.sdk.default).toBe('function');
  });

  it('other import failures are not disguised', async () => {
    const boom = new SyntaxError('bad module');
    await expect(loadAnthropic(() => Promise.reject(boom))).rejects.toBe(boom);
  });

  it('installed packages load', async () => {
    expect(typeof (await loadAnthropic()).default).toBe('function');
    expect(typeof (await loadOtelSdk()).metrics.MetricReader).toBe('function');
  });
});
