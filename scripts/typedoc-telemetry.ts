/**
 * TypeDoc plugin for the API reference (`npm run docs:api`): the entries of the telemetry name
 * tables (`ATTRIBUTES`, `SPANS`, `EVENTS`, `METRICS`, `LOG_EVENTS`) are documented by their own
 * `brief` in `src/telemetry/names.ts` — the single declaration the telemetry reference is generated
 * from — instead of a second, hand-written comment per entry that could drift.
 */

import type { Application, Reflection } from 'typedoc';
import { Comment, Converter, type DeclarationReflection, ReflectionKind } from 'typedoc';
import { ATTRIBUTES, EVENTS, LOG_EVENTS, METRICS, SPANS } from '../src/telemetry/names.js';

const TABLES: Record<string, Record<string, { name: string; brief: string }>> = {
  ATTRIBUTES,
  SPANS,
  EVENTS,
  METRICS,
  LOG_EVENTS,
};

/** What the fields of a table entry hold (the entries' own types are object literals). */
const FIELDS: Record<string, string> = {
  name: 'The name as emitted.',
  brief: 'What it records.',
  kind: 'The span kind.',
  instrument: 'The instrument kind.',
  unit: 'The unit (UCUM).',
  origin: 'Where the name comes from: an OpenTelemetry semantic convention or this library.',
  attributes: 'The attributes it carries.',
  buckets: 'The explicit bucket boundaries of the histogram.',
  level: 'Its log level.',
  span: 'The span whose trace and span ids it carries.',
  message: 'The log message.',
  fields: 'The fields it carries (attribute names, and log fields of its own).',
};

function path(reflection: Reflection): string[] {
  const names: string[] = [];
  for (let r: Reflection | undefined = reflection; r && !r.isProject(); r = r.parent) names.unshift(r.name);
  return names.filter((name) => name !== '__type');
}

function text(summary: string): Comment {
  return new Comment([{ kind: 'text', text: summary }]);
}

export function load(app: Application): void {
  app.converter.on(Converter.EVENT_RESOLVE_BEGIN, (context) => {
    for (const reflection of context.project.getReflectionsByKind(ReflectionKind.Property)) {
      const declaration = reflection as DeclarationReflection;
      if (declaration.hasComment()) continue;
      // [module, TABLE, KEY] or [module, TABLE, KEY, field]
      const [, table, key, field, ...rest] = path(declaration);
      const entries = table === undefined ? undefined : TABLES[table];
      const entry = key === undefined ? undefined : entries?.[key];
      if (entry === undefined || rest.length > 0) continue;
      if (field === undefined) declaration.comment = text(`\`${entry.name}\`: ${entry.brief}`);
      else if (FIELDS[field] !== undefined) declaration.comment = text(FIELDS[field]);
    }
  });
}
