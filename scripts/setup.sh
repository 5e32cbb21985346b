#!/usr/bin/env bash
# HA Lab set-up: installs everything a fresh Debian 12 / Ubuntu 22.04+ machine needs.
# Idempotent: a second run checks, and changes nothing that is already in place.
#   1. Debian packages (the lab's real components + Chromium for the UI tests)
#   2. npm packages (npm ci)
#   3. Kubernetes binaries at the pinned version (downloaded and checksummed where the
#      network allows, else built from the Go module proxy; cached per version under
#      ~/.cache/halab/kubernetes, reused when present)
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*"; }
if [ "$(id -u)" != 0 ]; then
  echo "error: the set-up installs Debian packages and the labs need namespaces: run it as root (sudo npm run setup)" >&2
  exit 1
fi

PKGS=(
  iproute2 util-linux mount e2fsprogs procps psmisc kmod    # namespaces, bridges, loop disks
  openssh-server openssh-client                              # sshd on every lab host
  s6                                                         # the service supervisor on every host
  etcd-server etcd-client                                    # etcd members, etcdctl
  haproxy keepalived                                         # the load-balancer pair and the VIP
  socat curl ca-certificates jq                              # health checks, HAProxy admin socket
  chromium                                                   # UI tests (headless)
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "Debian packages: installing ${missing[*]}"
  # Installing etcd, haproxy, keepalived or sshd must not start them on this machine: the lab
  # runs its own copies inside its hosts. A temporary policy-rc.d stops the package scripts
  # from starting services (only if the machine has none of its own).
  made_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && made_policy=1
  fi
  trap '[ -n "$made_policy" ] && rm -f /usr/sbin/policy-rc.d' EXIT
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
  if [ -d /run/systemd/system ]; then
    # keep the packaged daemons off on the machine itself (they stay installed for the lab)
    for u in etcd haproxy keepalived; do systemctl disable --now "$u" >/dev/null 2>&1 || true; done
  fi
else
  log "Debian packages: all ${#PKGS[@]} present"
fi

log "npm packages"
# the Electron binary is fetched from outside the npm registry: skip it (the app is packaged
# with `npm run dist` where that download works; here the UI runs in Chromium via `halab ui`)
export ELECTRON_SKIP_BINARY_DOWNLOAD=1
if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi

log "Kubernetes binaries"
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then export PATH="$PATH:/usr/local/go/bin"; fi
npx tsx scripts/k8s/fetch.ts

log "checking"
bin/halab doctor || { echo "error: prerequisites still missing (see above)" >&2; exit 1; }
echo
echo "set-up complete: run the tests with 'npm test', create a lab with 'bin/halab up'"
