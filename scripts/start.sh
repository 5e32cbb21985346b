#!/usr/bin/env bash
# npm start: set up what is missing (a check of about a second when everything is in place), then
# create the lab (the built-in reference lab, or SPEC) or reuse it when it is ready, add its kubectl
# context, and serve the UI until Ctrl-C. The lab keeps running afterwards (bin/halab down).
#   npm start [-- SPEC] [--port N]
set -uo pipefail
cd "$(dirname "$0")/.."
export HALAB_START_T0=${HALAB_START_T0:-$(date +%s%N)}
if [ "$(id -u)" != 0 ]; then
  printf 'npm start: the lab needs root (network namespaces, bridges, loop devices)\nfix: sudo npm start\n' >&2
  exit 1
fi
echo "== set-up: what is missing"
bash scripts/setup.sh || exit 1
exec bin/halab quickstart "$@"
