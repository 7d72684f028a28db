/**
 * Keeps the docs' runnable code blocks byte-equal to the example files the tests run. A page marks
 * an included example with
 *
 *     <!-- example:begin examples/name.ts (included by `npm run docs`; do not edit) -->
 *     <!-- example:end -->
 *
 * and `npm run docs` writes the file between the markers as a fenced block; a unit test fails when a
 * page and its examples differ.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** The repository root, as a file URL ending in `/`. */
export const ROOT = new URL('../', import.meta.url);

/** The pages that may include examples (and hold generated blocks), relative to the root. */
export function docPages(): string[] {
  const docs = readdirSync(new URL('docs/', ROOT))
    .filter((name) => name.endsWith('.md'))
    .sort()
    .map((name) => `docs/${name}`);
  return ['README.md', ...docs, 'examples/README.md'];
}

const BLOCK = /<!-- example:begin (\S+)( [^>]*)?-->\n[\s\S]*?<!-- example:end -->/g;

const LANGUAGE: Record<string, string> = { ts: 'ts', mts: 'ts', mjs: 'js', cjs: 'js', js: 'js', sh: 'sh' };

/** The fenced block of `file`'s text, as a page includes it. */
export function fence(file: string, text: string): string {
  const language = LANGUAGE[file.split('.').pop() ?? ''] ?? '';
  return `\`\`\`${language}\n${text}${text.endsWith('\n') ? '' : '\n'}\`\`\`\n`;
}

/** `page` with every included example replaced by the current text of its file. */
export function withExamples(page: string, read: (file: string) => string = readExample): string {
  return page.replace(BLOCK, (_match, file: string, rest: string | undefined) => {
    return `<!-- example:begin ${file}${rest ?? ' '}-->\n${fence(file, read(file))}<!-- example:end -->`;
  });
}

/** The example files a page includes, in order. */
export function includedExamples(page: string): string[] {
  return [...page.matchAll(BLOCK)].map((m) => m[1] as string);
}

function readExample(file: string): string {
  if (!/^examples\/[\w.-]+$/.test(file))
    throw new Error(`an included example must be examples/<file>, got ${file}`);
  return readFileSync(new URL(file, ROOT), 'utf8');
}
