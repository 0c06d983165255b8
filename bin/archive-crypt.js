#!/usr/bin/env node
// The CLI lives in dist/cli; this file only starts it.
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  // The version alone needs none of the program: answered at the cost of `node -e 0` (bench, start-up).
  const { readFileSync } = await import('node:fs');
  process.stdout.write(`${JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version}\n`);
} else {
  const { run } = await import('../dist/cli/main.js');
  process.exitCode = await run(process.argv);
}
