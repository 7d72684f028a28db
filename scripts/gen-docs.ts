/**
 * `npm run docs`: rewrites every generated part of the docs — the telemetry reference and the
 * failure taxonomy (from the code), the options reference (from the option types' JSDoc), and the
 * examples included from `examples/` — and says which pages changed.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { docPages, ROOT, withExamples } from './docs-examples.js';
import { OPTIONS_PAGE, withOptionsReference } from './options-reference.js';
import {
  TAXONOMY_PAGE,
  TELEMETRY_PAGE,
  withTaxonomy,
  withTelemetryReference,
} from './telemetry-reference.js';

const generators: Record<string, (text: string) => string> = {
  [TELEMETRY_PAGE]: withTelemetryReference,
  [TAXONOMY_PAGE]: withTaxonomy,
  [OPTIONS_PAGE]: withOptionsReference,
};

for (const page of docPages()) {
  const url = new URL(page, ROOT);
  const before = readFileSync(url, 'utf8');
  const after = withExamples((generators[page] ?? ((t: string) => t))(before));
  if (after !== before) {
    writeFileSync(url, after);
    console.log(`${page}: updated`);
  }
}
console.log('docs: current');
