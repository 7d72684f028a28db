/**
 * `claude-otel-middleware/testing`: a fake Claude API for tests, with scripted, hooked and
 * seeded-random faults (errors, HTML proxy pages, truncated bodies, stalls, dropped streams,
 * in-stream errors).
 *
 * @example
 * ```ts
 * const fake = await startFakeClaude({ script: [{ status: 529 }, null] });
 * const client = new Anthropic({ apiKey: 'test', baseURL: fake.url });
 * // … first call gets 529 overloaded_error, the retry succeeds …
 * await fake.close();
 * ```
 */

export type { CapabilitySupport, ModelCapabilities, ModelInfo } from './content.js';
export { startFakeClaude } from './server.js';
export type { FakeClaude, FakeClaudeOptions, Fault, RawResponse, RecordedRequest } from './types.js';
