#!/usr/bin/env bash
# HA Lab tests (npm test): the set-up of what is missing (scripts/setup.sh: about a second when
# everything is in place), then lint + types, unit tests, the integration tests that build real
# labs (root only), then a leak check over the whole machine. Prints one closing line:
# "N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p test-results
status=0

echo "== set-up: what is missing"
if ! bash scripts/setup.sh; then
  echo "npm test: the set-up failed (the step and its fix are above); nothing was tested"
  exit 1
fi

echo "== lint and types"
npx eslint . || status=1
npx prettier --check . || { echo "formatting: run npm run format"; status=1; }
npx tsc --noEmit -p tsconfig.json || status=1

echo "== unit and component tests"
npx vitest run --project unit --project renderer --reporter=default --reporter=json --outputFile.json=test-results/unit.json || status=1

echo "== build (main, preload, renderer and CLI bundles) and packaging config"
npm run build || status=1

if [ "$(id -u)" = 0 ]; then
  echo "== integration tests (real labs, including the UI in Chromium)"
  npx vitest run --project integration --reporter=default --reporter=json --outputFile.json=test-results/integration.json || status=1
else
  echo "SKIP integration tests: they build real labs and need root (run: sudo npm test)"
fi

echo "== leak check (nothing of any test lab may remain)"
npx tsx scripts/leak-check.ts || status=1

npx tsx scripts/summarize-tests.ts test-results/unit.json test-results/integration.json || status=1
exit $status
