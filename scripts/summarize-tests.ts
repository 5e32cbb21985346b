// One closing line for CI over every vitest JSON report given: "N passed, N failed, N skipped".
import { existsSync, readFileSync } from 'node:fs';

let passed = 0,
  failed = 0,
  skipped = 0,
  files = 0;
for (const f of process.argv.slice(2)) {
  if (!existsSync(f)) continue;
  const r = JSON.parse(readFileSync(f, 'utf8')) as {
    numPassedTests: number;
    numFailedTests: number;
    numPendingTests: number;
    numTodoTests: number;
  };
  passed += r.numPassedTests;
  failed += r.numFailedTests;
  skipped += r.numPendingTests + (r.numTodoTests ?? 0);
  files++;
}
if (!files) {
  console.log('0 passed, 1 failed');
  process.exit(1);
}
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed ? 1 : 0);
