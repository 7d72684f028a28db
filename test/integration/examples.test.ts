/**
 * Every example the docs include (`examples/*.ts`) runs as a user would run it —
 * `node --import tsx examples/<name>.ts`, in its own process, `claude-otel-middleware` resolved to
 * `src/` through tsconfig `paths` — against the fake API it starts itself (no key, no network), and
 * prints or records what the docs say it does.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));

async function run(
  example: string,
  env: Record<string, string> = {},
): Promise<{ stdout: string; stderr: string }> {
  const { ANTHROPIC_API_KEY: _key, ANTHROPIC_BASE_URL: _url, ...rest } = process.env;
  return await new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', `examples/${example}`],
      { cwd: root, env: { ...rest, ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        if (error) reject(Object.assign(error, { stdout, stderr }));
        else resolve({ stdout, stderr });
      },
    );
  });
}

interface PrintedSpan {
  name: string;
  id: string;
  traceId: string;
  parent: string | undefined;
  block: string;
}

/** The spans `ConsoleSpanExporter` printed (util.inspect of each span, one top-level object each). */
function printedSpans(stdout: string): PrintedSpan[] {
  return stdout
    .split(/^\{$/m)
    .slice(1)
    .map((block) => ({
      name: /^ {2}name: '([^']+)'/m.exec(block)?.[1] as string,
      id: /^ {2}id: '([0-9a-f]{16})'/m.exec(block)?.[1] as string,
      traceId: /^ {2}traceId: '([0-9a-f]{32})'/m.exec(block)?.[1] as string,
      parent: /^ {2}parentSpanContext: \{[^}]*?spanId: '([0-9a-f]{16})'/m.exec(block)?.[1],
      block,
    }));
}

describe('examples', () => {
  it('quick-start.ts: prints the SDK call span and two attempt spans, children of it in one trace', async () => {
    const { stdout } = await run('quick-start.ts');
    const spans = printedSpans(stdout);
    const call = spans.find((s) => s.name === 'anthropic.messages.create');
    const attempts = spans.filter((s) => s.name === 'POST /v1/messages');
    expect(call).toBeDefined();
    expect(call?.parent).toBeUndefined();
    expect(attempts).toHaveLength(2);
    for (const attempt of attempts) {
      expect(attempt.parent).toBe(call?.id);
      expect(attempt.traceId).toBe(call?.traceId);
    }
    expect(attempts[0]?.block).toMatch(/'http.request.resend_count': 0,/);
    expect(attempts[0]?.block).toMatch(/'http.response.status_code': 529,/);
    expect(attempts[0]?.block).toMatch(/'error.type': 'overloaded_error'/);
    expect(attempts[1]?.block).toMatch(/'http.request.resend_count': 1,/);
    expect(attempts[1]?.block).toMatch(/'http.response.status_code': 200,/);
    expect(stdout).toMatch(/^answer: \S/m);
  });
});
