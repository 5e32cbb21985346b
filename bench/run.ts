// `npm run bench`: figures, not pass/fail. Builds a lab from nothing, measures, breaks it,
// measures again, removes it. Needs root (and, for the control plane, the Kubernetes binaries).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benches } from './suites.ts';

if (process.getuid?.() !== 0) {
  console.error('bench: needs root (it builds real labs): sudo npm run bench');
  process.exit(1);
}
const only = process.argv.slice(2);
process.env.HALAB_HOME = mkdtempSync(join(tmpdir(), 'halab-bench-'));
let failed = false;
try {
  for (const b of benches) {
    if (only.length && !only.includes(b.name)) continue;
    console.log(`\n## ${b.title}`);
    try {
      await b.run();
    } catch (err) {
      failed = true;
      console.log(`  failed: ${(err as Error).message}`);
    }
  }
} finally {
  rmSync(process.env.HALAB_HOME!, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
