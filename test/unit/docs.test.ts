/**
 * The docs stay true to the code: every generated block equals its generator's output, every code
 * block included from `examples/` equals its file, and every relative link points at a file.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { docPages, fence, includedExamples, ROOT, withExamples } from '../../scripts/docs-examples.js';
import {
  OPTIONS_PAGE,
  optionSections,
  renderOptionsReference,
  slug,
  withOptionsReference,
} from '../../scripts/options-reference.js';

const read = (path: string): string => readFileSync(new URL(path, ROOT), 'utf8');
const pages = docPages();
const sections = optionSections();

describe('examples included in the docs', () => {
  it.each(pages)('%s: each included example equals its file (run `npm run docs`)', (page) => {
    const text = read(page);
    expect(withExamples(text)).toBe(text);
  });

  it('are included byte for byte, and every example file is included somewhere', () => {
    const included = new Set(pages.flatMap((page) => includedExamples(read(page))));
    const files = readdirSync(new URL('examples/', ROOT)).filter((f) => /\.(ts|mjs)$/.test(f));
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) {
      expect(included, `examples/${file} is included by no page`).toContain(`examples/${file}`);
      const page = pages.find((p) => includedExamples(read(p)).includes(`examples/${file}`)) as string;
      expect(read(page)).toContain(fence(file, read(`examples/${file}`)));
    }
  });

  it('an edited example makes its page stale', () => {
    const readme = read('README.md');
    const [file] = includedExamples(readme);
    expect(file).toBeDefined();
    const stale = withExamples(readme, (f) => (f === file ? `${read(f)}// edited\n` : read(f)));
    expect(stale).not.toBe(readme);
  });
});

describe('links', () => {
  const prose = (text: string): string => text.replace(/```[\s\S]*?```/g, '');
  /** GitHub's anchors of a Markdown file's headings. */
  const anchors = (url: URL): Set<string> =>
    new Set(
      [...prose(readFileSync(url, 'utf8')).matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1] as string)),
    );

  it.each(pages)(
    '%s: every relative link points at a file of the repository, and at a heading of it',
    (page) => {
      const base = new URL(page, ROOT);
      for (const [, target] of prose(read(page)).matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target as string)) continue;
        const [file, anchor] = (target as string).split('#') as [string, string | undefined];
        const url = file === '' ? base : new URL(file, base);
        expect(existsSync(url), `${page} links to ${target}`).toBe(true);
        if (anchor !== undefined && url.pathname.endsWith('.md')) {
          expect(anchors(url), `${page} links to ${target}`).toContain(anchor);
        }
      }
    },
  );
});

describe('options reference', () => {
  it(`in ${OPTIONS_PAGE} equals the one generated from the option types (run \`npm run docs\`)`, () => {
    const text = read(OPTIONS_PAGE);
    expect(withOptionsReference(text)).toBe(text);
  });

  const rows = sections.flatMap((s) => s.rows.map((r) => ({ ...r, root: s.key })));
  const paths = new Set(rows.filter((r) => r.root === 'ClaudeFetchOptions').map((r) => r.path));

  it('lists every sub-option of every policy', () => {
    for (const path of [
      'retry.maxAttempts',
      'retry.backoff.baseMs',
      'retry.backoff.capMs',
      'retry.backoff.jitter',
      'retry.budget.maxTokens',
      'retry.budget.tokenRatio',
      'breaker.openMs',
      'breaker.maxOpenMs',
      'breaker.failureRateThreshold',
      'breaker.minimumThroughput',
      'breaker.window',
      'breaker.halfOpenProbes',
      'timeouts.idleMs',
      'regions[].baseURL',
      'regions.list',
      'regions.probe.intervalMs',
      'regions.probe.path',
      'regions.failbackAfterMs',
      'fallback.models',
      'fallback.stickyMs',
      'cache.ttlMs',
      'resume.maxResumptions',
      'throttle.maxWaitMs',
      'store.syncMs',
      'logging.rateLimit.burst',
    ]) {
      expect(paths, path).toContain(path);
    }
  });

  it('gives every option of createClaudeFetch and RedisFleetStore a default and a description', () => {
    for (const r of rows.filter(
      (x) => x.root === 'ClaudeFetchOptions' || x.root === 'RedisFleetStoreOptions',
    )) {
      expect(r.default, `${r.path} has no @default tag nor "Default …" sentence`).toBeTruthy();
      expect(r.doc.length, `${r.path} has no JSDoc`).toBeGreaterThan(10);
    }
  });

  it('renders one table row per option, and each sub-option link lands on a heading', () => {
    const page = renderOptionsReference(sections);
    const headings = new Set([...page.matchAll(/^### (.+)$/gm)].map((m) => slug(m[1] as string)));
    for (const [, anchor] of page.matchAll(/\]\(#([^)]+)\)/g)) expect(headings).toContain(anchor);
    expect(page.match(/^\| `/gm)?.length).toBe(rows.length);
  });
});
