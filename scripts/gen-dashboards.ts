/** Writes the Grafana dashboards of `dashboards/` from `scripts/dashboards/build.ts`. */
import { readFileSync, writeFileSync } from 'node:fs';
import { dashboards, renderDashboard } from './dashboards/build.js';
import { checkDashboard } from './dashboards/check.js';

for (const { file, dashboard } of dashboards()) {
  const problems = checkDashboard(dashboard);
  if (problems.length > 0) {
    console.error(`dashboards/${file}:\n  ${problems.join('\n  ')}`);
    process.exit(1);
  }
  const path = new URL(`../dashboards/${file}`, import.meta.url);
  const text = renderDashboard(dashboard);
  let before: string | undefined;
  try {
    before = readFileSync(path, 'utf8');
  } catch {
    before = undefined;
  }
  if (before === text) {
    console.log(`dashboards/${file}: already current`);
  } else {
    writeFileSync(path, text);
    console.log(`dashboards/${file}: written`);
  }
}
