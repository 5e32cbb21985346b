#!/usr/bin/env bash
# HA Lab set-up: puts in place what the labs, the CLI, the UI and the tests need on a fresh
# Debian 12 / Ubuntu 22.04+ machine, and only what is missing: on a machine where everything is in
# place the whole check takes well under a second. `npm start` and `npm test` run it first.
#   bash scripts/setup.sh            (npm run setup) set up what is missing
#   bash scripts/setup.sh --check    only say what is missing (exit 1 if anything is), change nothing
#
# Each step is a cheap check, then the install only when the check fails:
#   1. Debian packages          one dpkg-query for the whole list
#   2. npm packages             scripts/npm-in-sync.mjs: node_modules holds what package-lock.json
#                               asks for (npm's record of the installed tree, entry by entry)
#   3. builds                   the CLI bundle (dist/cli) and the UI (renderer/dist), when a source
#                               is newer than the build
#   4. the engine's preflight   `halab doctor --json` (every provider's and bootstrap's checks:
#                               tools, Debian packages, Kubernetes binaries, ...); each missing item
#                               is installed by the rule for its check id (install_for below), e.g.
#                               k8s:* by scripts/k8s/fetch.ts, runtime:* and images by
#                               scripts/k8s/runtime.ts, qemu:image by scripts/vm-image.ts, sysctl:* by sysctl (kept in /etc/sysctl.d). A new artifact the engine checks is
#                               set up by one more rule there (none when its id matches one).
#   5. kubectl on PATH          a link /usr/local/bin/kubectl to the cached one, when there is none
set -euo pipefail
cd "$(dirname "$0")/.."

CHECK_ONLY=""
[ "${1:-}" = "--check" ] && CHECK_ONLY=1
t0=$(date +%s%N)
STEP="start"
did=()     # what this run installed or built
missing=() # --check: what is missing

log() { printf '\n== %s\n' "$*"; }
elapsed() { awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f s", (b - a) / 1e9 }'; }
# fail MESSAGE FIX: name the step, the cause and the fix; exit 1
fail() {
  FAILED_REPORTED=1
  printf '\nset-up failed at step "%s": %s\nfix: %s\n' "$STEP" "$1" "$2" >&2
  exit 1
}
trap 'rc=$?; [ $rc -ne 0 ] && [ -z "${FAILED_REPORTED:-}" ] && printf "\nset-up failed at step \"%s\" (exit %s): see the output above\nfix: correct the cause shown above and run the command again (it resumes where it stopped)\n" "$STEP" "$rc" >&2' EXIT
need() { # need WHAT: record in --check mode, else go on to install it
  if [ -n "$CHECK_ONLY" ]; then
    missing+=("$1")
    return 1
  fi
  return 0
}
is_root() { [ "$(id -u)" = 0 ]; }
# with_counter LABEL COUNT_CMD CMD...: run CMD, printing LABEL and COUNT_CMD's output every 10 s
with_counter() {
  local label=$1 count=$2
  shift 2
  "$@" &
  local pid=$! s=0
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    s=$((s + 1))
    if [ $((s % 10)) = 0 ] && kill -0 "$pid" 2>/dev/null; then printf '  [%ss] %s: %s\n' "$s" "$label" "$(eval "$count")"; fi
  done
  wait "$pid"
}

# ---- 0. the basics
STEP="prerequisites"
command -v node >/dev/null || fail "Node.js is not installed" "install Node.js >= 20.5 (e.g. apt-get install nodejs npm on Ubuntu 24.04, or from https://nodejs.org)"
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=5)?0:1)' ||
  fail "Node.js $(node --version) is too old" "install Node.js >= 20.5"

# ---- 1. Debian packages
STEP="Debian packages"
PKGS=(
  iproute2 util-linux mount e2fsprogs procps psmisc kmod # namespaces, bridges, loop disks
  openssh-server openssh-client                          # sshd on every lab host
  s6                                                     # the service supervisor on every host
  etcd-server etcd-client                                # etcd members, etcdctl
  haproxy keepalived                                     # the load-balancer pair and the VIP
  socat curl ca-certificates jq                          # health checks, HAProxy admin socket, this script
  chromium                                               # the UI tests (headless)
)
apt_install() { # apt_install PKG...: install without starting their services on this machine
  is_root || fail "Debian packages missing: $*" "run as root: sudo npm run setup (or apt-get install -y $*)"
  log "Debian packages: installing $*"
  # etcd, haproxy, keepalived or sshd must not start on this machine: the lab runs its own copies
  # inside its hosts. A temporary policy-rc.d stops the package scripts from starting services
  # (only if the machine has none of its own).
  local made_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && made_policy=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  local rc=0
  { apt-get update -q && apt-get install -y -q --no-install-recommends "$@"; } || rc=$?
  [ -n "$made_policy" ] && rm -f /usr/sbin/policy-rc.d
  [ $rc = 0 ] || fail "apt-get install $* exited with $rc" "check the machine's apt sources and network (apt-get update), then run again"
  if [ -d /run/systemd/system ]; then
    # keep the packaged daemons off on the machine itself (they stay installed for the lab)
    for u in etcd haproxy keepalived; do systemctl disable --now "$u" >/dev/null 2>&1 || true; done
  fi
  did+=("Debian packages: $*")
}
installed=" $(dpkg-query -W -f='${Package}=${db:Status-Status} ' "${PKGS[@]}" 2>/dev/null || true)"
absent=()
for p in "${PKGS[@]}"; do [[ "$installed" == *" $p=installed "* ]] || absent+=("$p"); done
if [ ${#absent[@]} -gt 0 ] && need "Debian packages: ${absent[*]}"; then apt_install "${absent[@]}"; fi

# ---- 2. npm packages
STEP="npm packages"
if ! drift=$(node scripts/npm-in-sync.mjs) && need "npm packages (node_modules does not match package-lock.json)"; then
  log "npm packages: npm ci (node_modules differs from package-lock.json: $(head -1 <<<"$drift"); a counter every 10 s)"
  # the Electron binary is fetched from outside the npm registry: skipped (the app is packaged with
  # `npm run dist` where that download works; here the UI runs in a browser via `halab ui`)
  export ELECTRON_SKIP_BINARY_DOWNLOAD=1
  with_counter "node_modules so far" 'echo "$(du -sm node_modules 2>/dev/null | cut -f1) MB"' \
    npm ci --no-audit --no-fund || fail "npm ci failed (npm's error is above)" "an unreachable registry: npm ping, then run again; a broken package-lock.json: git checkout package-lock.json"
  did+=("npm packages")
fi

# ---- 3. builds (newer than every source, or built again)
STEP="builds"
# stale BUILT PATH...: a file or directory under PATH... is newer than BUILT (or BUILT is missing);
# directories count too: adding, renaming or removing a file changes its directory's mtime
stale() {
  local built=$1
  shift
  [ ! -e "$built" ] || [ -n "$(find "$@" -newer "$built" -print -quit 2>/dev/null)" ]
}
if stale dist/cli/halab.mjs provisioning package-lock.json && need "the CLI bundle (dist/cli)"; then
  log "CLI bundle (dist/cli)"
  npx tsx build/build-cli.ts || fail "the CLI bundle did not build (see above)" "fix the error esbuild shows in provisioning/, then run again"
  did+=("CLI bundle")
fi
UI_SOURCES=(renderer/src renderer/public renderer/index.html renderer/*.config.* renderer/tsconfig.json provisioning/api package-lock.json)
if stale renderer/dist/index.html "${UI_SOURCES[@]}" && need "the UI build (renderer/dist)"; then
  log "UI (renderer/dist)"
  started=$(date +%s)
  npx vite build --config renderer/vite.config.ts --logLevel warn ||
    fail "the UI did not build (see above)" "fix the error vite shows in renderer/, then run again"
  touch -d "@$started" renderer/dist/index.html # a source saved during the build makes it stale
  did+=("UI build")
fi

# ---- 4. what the engine's preflight reports missing
STEP="engine preflight (halab doctor)"
# install_for ID FIX: set up the item of a failed doctor check, by its id; returns 1 when no rule knows it
install_for() {
  case "$1" in
    k8s:*) # Kubernetes binaries at the pinned version: all at once (download, else a build)
      [ -n "${k8s_done:-}" ] && return 0
      STEP="Kubernetes binaries"
      log "Kubernetes binaries (scripts/k8s/fetch.ts: a download, else a build from the Go module proxy; cold builds take minutes and print a package counter)"
      if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then export PATH="$PATH:/usr/local/go/bin"; fi
      npx tsx scripts/k8s/fetch.ts || { fail "the Kubernetes binaries could not be fetched or built (the error and its fix are above)" "follow the fix above, then run again (a build resumes from the Go caches)"; }
      k8s_done=1
      did+=("Kubernetes binaries")
      ;;
    runtime:* | images) # the kubeadm bootstrap's runtime, images and runtime disk: all at once (after k8s:*)
      [ -n "${runtime_done:-}" ] && return 0
      STEP="container runtime and images"
      log "containerd, CNI plugins, crictl, CoreDNS, agnhost, the images and the runtime disk (scripts/k8s/runtime.ts: built from the Go module proxy, cached; cold builds take minutes)"
      if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then export PATH="$PATH:/usr/local/go/bin"; fi
      npx tsx scripts/k8s/runtime.ts || { fail "the container runtime or the images could not be built (the error and its fix are above)" "follow the fix above, then run again (builds resume from the Go caches)"; }
      runtime_done=1
      did+=("container runtime and images")
      ;;
    sysctl:*) # a kernel limit the labs share (the check's fix is `sysctl -w KEY=VALUE`): applied and kept
      case "$2" in
        "sysctl -w "*)
          kv=${2#sysctl -w }
          log "kernel setting $kv (kept in /etc/sysctl.d/90-halab.conf)"
          sysctl -qw "$kv" && { grep -v "^${kv%%=*}=" /etc/sysctl.d/90-halab.conf 2>/dev/null; echo "$kv"; } >/etc/sysctl.d/90-halab.conf.tmp && mv /etc/sysctl.d/90-halab.conf.tmp /etc/sysctl.d/90-halab.conf
          did+=("$kv")
          ;;
        *) return 1 ;;
      esac
      ;;
    qemu:image) # the qemu provider's base image (debootstrap as root; cached per version)
      [ -n "${vm_image_done:-}" ] && return 0
      STEP="VM base image"
      is_root || fail "the VM base image is missing" "run as root: sudo npm run setup (debootstrap needs root)"
      log "VM base image (scripts/vm-image.ts: debootstrap of Debian bookworm with what a lab host holds, about 3 minutes, once per image version)"
      npx tsx scripts/vm-image.ts || fail "the VM base image could not be built (the error and its fix are above)" "follow the fix above, then run again"
      vm_image_done=1
      did+=("VM base image")
      ;;
    pkg:* | tool:*) # a Debian package the engine needs: the check's fix is `apt-get install -y PKG`
      case "$2" in
        "apt-get install -y "*) apt_install ${2#apt-get install -y } ;;
        *) return 1 ;;
      esac
      ;;
    *) return 1 ;;
  esac
}
DOCTOR=""
run_doctor() { # DOCTOR = `halab doctor --json`, or fail when the preflight itself does not run
  DOCTOR=$(bin/halab doctor --json 2>&1) || true
  jq -e 'type == "array"' <<<"$DOCTOR" >/dev/null 2>&1 ||
    fail "the engine's preflight (bin/halab doctor --json) did not run: $(tail -3 <<<"$DOCTOR")" "run bin/halab doctor to see why"
}
doctor_missing() { # the failed required checks as "id<TAB>fix<TAB>title" lines (root is handled apart),
  # and the VM base image (optional for `up`: a lab keeps the image it was made on; built here for the tests)
  jq -r '.[] | select((.required or .id == "qemu:image") and (.ok | not) and .id != "root") | [.id, (.fix // ""), .title] | @tsv' <<<"$DOCTOR"
}
failed=()
if [ -n "$CHECK_ONLY" ] && [[ "${missing[*]}" == *"npm packages"* ]]; then
  missing+=("the engine's preflight (not checked: it needs the npm packages)")
else
  run_doctor
  mapfile -t failed < <(doctor_missing)
fi
if [ ${#failed[@]} -gt 0 ]; then
  for line in "${failed[@]}"; do
    IFS=$'\t' read -r id fix title <<<"$line"
    need "$title (fix: $fix)" || continue
    install_for "$id" "$fix" || fail "$title is missing, and the set-up has no rule for \"$id\"" "$fix"
  done
  if [ -z "$CHECK_ONLY" ]; then
    STEP="engine preflight (halab doctor)"
    run_doctor
    mapfile -t still < <(doctor_missing)
    if [ ${#still[@]} -gt 0 ]; then
      bin/halab doctor || true
      fail "still missing after the set-up: $(printf '%s\n' "${still[@]}" | cut -f3 | paste -sd';')" "see the fixes above (bin/halab doctor)"
    fi
  fi
fi

# ---- 5. kubectl on PATH (what `kubectl get nodes` after `halab up` runs)
STEP="kubectl on PATH"
if ! command -v kubectl >/dev/null 2>&1; then
  kc=$(jq -r '.[]? | select(.id == "k8s:kubectl" and .ok) | .detail // empty' <<<"$DOCTOR" 2>/dev/null || true)
  if [ -n "$kc" ] && need "kubectl on PATH (a link to $kc)"; then
    if is_root && [ -d /usr/local/bin ]; then
      ln -sf "$kc" /usr/local/bin/kubectl
      did+=("kubectl on PATH (/usr/local/bin/kubectl -> $kc)")
    else
      echo "note: kubectl is not on PATH: add $(dirname "$kc") to PATH (or: sudo ln -s $kc /usr/local/bin/kubectl)"
    fi
  fi
fi

trap - EXIT
if [ -n "$CHECK_ONLY" ]; then
  if [ ${#missing[@]} -gt 0 ]; then
    printf 'set-up: missing (checked in %s):\n' "$(elapsed)"
    printf '  - %s\n' "${missing[@]}"
    printf 'run: npm run setup\n'
    exit 1
  fi
  printf 'set-up: everything in place (checked in %s)\n' "$(elapsed)"
  exit 0
fi
if [ ${#did[@]} -gt 0 ]; then
  printf '\nset-up complete in %s: %s\n' "$(elapsed)" "$(IFS=';'; echo "${did[*]}" | sed 's/;/; /g')"
else
  printf 'set-up: everything in place (checked in %s)\n' "$(elapsed)"
fi
if ! is_root; then echo "note: the labs need root (namespaces, bridges, loop devices): run npm start / npm test with sudo"; fi
