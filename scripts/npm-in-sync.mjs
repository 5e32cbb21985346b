// Does node_modules hold exactly what package-lock.json asks for? The set-up's cheap check (about
// 0.1 s) before it runs `npm ci`. Plain JavaScript: it runs before the npm packages exist.
//   node scripts/npm-in-sync.mjs      exit 0: in sync; exit 1: prints what differs (at most 5 lines)
//
// It compares package-lock.json with npm's record of the installed tree
// (node_modules/.package-lock.json, written at the end of every successful `npm ci`/`npm install`),
// entry by entry (path and version), and checks that each entry's directory is there. An optional
// package may be absent, as npm allows (another platform's binary, or a native addon whose build
// failed: npm ci succeeds without it, so asking for it would run npm ci on every start).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';

const root = join(import.meta.dirname, '..');

function packages(file) {
  try {
    return JSON.parse(readFileSync(join(root, file), 'utf8')).packages ?? {};
  } catch {
    return undefined;
  }
}

const lock = packages('package-lock.json');
const installed = packages('node_modules/.package-lock.json');
const problems = [];
if (!lock) problems.push('package-lock.json is missing or unreadable');
else if (!installed) problems.push('node_modules is not installed (no node_modules/.package-lock.json)');
else {
  for (const [path, want] of Object.entries(lock)) {
    if (!path) continue; // the project itself
    const have = installed[path];
    if (!have) {
      if (!want.optional) problems.push(`${path}: missing`);
    } else if (have.version !== want.version)
      problems.push(`${path}: ${have.version} installed, ${want.version} locked`);
    else if (!existsSync(join(root, path))) problems.push(`${path}: its directory is gone`);
  }
  for (const path of Object.keys(installed)) if (!(path in lock)) problems.push(`${path}: installed, not locked`);
}
if (problems.length) {
  process.stdout.write(
    `${problems.slice(0, 5).join('\n')}${problems.length > 5 ? `\n… ${problems.length - 5} more` : ''}\n`,
  );
  process.exit(1);
}
