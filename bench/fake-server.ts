/**
 * Runs the fake Claude API in its own process for the benchmarks, so that the client's CPU time is
 * measured without the server's. Options come as JSON in argv[2]; prints the base URL on stdout and
 * stops when stdin closes.
 */
const { startFakeClaude } = (await import(
  new URL('../dist/testing/index.js', import.meta.url).href
)) as typeof import('../src/testing/index.js');

const options = JSON.parse(process.argv[2] ?? '{}') as Parameters<typeof startFakeClaude>[0];
const fake = await startFakeClaude(options);
process.stdout.write(`${fake.url}\n`);
process.stdin.resume();
process.stdin.on('end', () => {
  void fake.close().then(() => process.exit(0));
});
