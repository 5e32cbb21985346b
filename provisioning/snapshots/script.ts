// The POSIX shell that does everything snapshot-related ON a master (pure renderer).
//
// One script, several commands, so that a manual snapshot (`halab snapshot`), the listing and
// the scheduled s6 service all save, verify, record and prune the same way:
//   save [manual|schedule]  etcdctl snapshot save into a hidden temp name on disk B, rename to
//                           snap-<UTC>.db, verify, write the sidecar <file>.json, print it
//   verify FILE             (re)check one snapshot and rewrite its sidecar
//   list                    re-verify every snapshot whose size or mtime differ from its sidecar
//                           (or that has none), then print every sidecar, one JSON per line
//   prune                   keep the RETAIN newest GOOD snapshots; bad ones are kept for
//                           inspection and never counted, so the last good one always stays
//   loop                    every INTERVAL s: save schedule, prune (the etcd-snapshot service)
//
// A snapshot is saved only from a member that is part of a quorum: etcdctl snapshot save reads
// the member's own database, and a member cut off from the others keeps answering with what it
// had (issue 11, case 3: an isolated m2 wrote 8 snapshots 70 revisions behind, all "good"). So
// save first does a linearizable read through the same member (it needs the leader and a
// majority to confirm the read index): if it fails, nothing is saved (exit 3, "not part of a
// quorum"); if it works, the cluster's revision it returned is recorded as clusterRevision, and
// the snapshot, taken after it, contains at least that revision.
//
// "Good" means BOTH checks pass:
//   1. the sha256 trailer: the Maintenance.Snapshot stream ends with the sha256 of the database,
//      which etcdctl writes into the file; `etcdctl snapshot restore` refuses a file whose
//      trailer does not match. Measured: etcdctl 3.4's `snapshot status` alone reports a file
//      truncated to half its size as fine (same hash, revision and key count), because bbolt
//      reads the small tree from the first pages and never notices the missing tail.
//   2. `etcdctl snapshot status -w json` (bbolt consistency check, hash, revision, keys, size).
// Every mutating command holds flock(1) on DIR/.lock, so the service, a manual save and a
// listing never race on the same file.

import { shq } from '../exec/types.ts';

export interface SnapshotScriptOptions {
  master: string;
  /** Disk B's mountpoint. */
  dir: string;
  intervalS: number;
  retain: number;
  etcdctl: string;
  /** The member on the same master. */
  endpoint: string;
  cacert: string;
  cert: string;
  key: string;
  /** Refuse to save unless DIR is a mountpoint (default true; tests on a plain directory turn it off). */
  requireMount?: boolean;
  /** How long the quorum check (a linearizable read) may take, s (default 5). */
  quorumTimeoutS?: number;
}

/** File name pattern of a snapshot (UTC timestamp, sorts chronologically). */
export const SNAPSHOT_NAME_RE = /^snap-(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z\.db$/;

// The body is a raw string with no interpolation: every "$" in it belongs to the shell.
const BODY = String.raw`
log() { echo "etcd-snapshot $MASTER: $*" >&2; }

now() { date -u +%Y-%m-%dT%H:%M:%SZ; }

# stdin -> the inside of a JSON string
json_escape() {
  tr -d '\000-\010\013-\037' | tr '\t' ' ' | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' | awk 'NR > 1 { printf "\\n" } { printf "%s", $0 }'
}

# snapshot file names in DIR, oldest first
snapshots() { ls -1 "$DIR" 2>/dev/null | grep -E '^snap-[0-9]{8}T[0-9]{6}Z\.db$'; }

# "size mtime" of a file (mtime with nanoseconds)
fstat() { stat -c '%s %.9Y' "$1" 2>/dev/null; }

# the sidecar's recorded "size mtime" (fixed field order, see verify)
recorded() {
  sed -n 's/^{"v":1,"file":"[^"]*","master":"[^"]*","origin":"[a-z]*","createdAt":"[^"]*","sizeBytes":\([0-9]*\),"mtime":"\([0-9.]*\)".*/\1 \2/p' "$1.json" 2>/dev/null
}

origin_of() {
  sed -n 's/^{"v":1,"file":"[^"]*","master":"[^"]*","origin":"\([a-z]*\)".*/\1/p' "$1.json" 2>/dev/null
}

# the cluster revision a quorum confirmed when FILE was saved (empty when not recorded)
quorum_of() {
  sed -n 's/.*"clusterRevision":\([0-9]*\).*/\1/p' "$1.json" 2>/dev/null
}

# the cluster's revision, read through our member with a linearizable read (it needs the leader
# and a majority); prints it, or the reason on stderr and fails when the member has no quorum
quorum_revision() {
  qout=$("$ETCDCTL" --endpoints="$ENDPOINT" --cacert="$CACERT" --cert="$CERT" --key="$KEY" \
      --dial-timeout=2s --command-timeout="$QUORUM_TIMEOUT"s get halab-quorum-check --consistency=l -w json 2>&1)
  qrc=$?
  qrev=$(printf '%s\n' "$qout" | sed -n 's/.*"header":{[^}]*"revision":\([0-9]*\).*/\1/p' | head -n 1)
  if [ $qrc -ne 0 ] || [ -z "$qrev" ]; then
    printf '%s\n' "$qout" | grep -v '^{"level"' | tail -n 1 >&2
    return 1
  fi
  echo "$qrev"
}

is_good() { grep -q '"checkedAt":"[^"]*","ok":true' "$1.json" 2>/dev/null; }

# true when FILE has a sidecar written for exactly this size and mtime
fresh() {
  cur=$(fstat "$1") || return 1
  [ -n "$cur" ] && [ "$cur" = "$(recorded "$1")" ]
}

# verify FILE [ORIGIN]: check it, write FILE.json atomically; exit 0 when good
verify() {
  f=$1
  origin=$2
  crev=$3
  [ -n "$origin" ] || origin=unknown
  b=$(basename "$f")
  st=$(fstat "$f")
  if [ -z "$st" ]; then log "$b: cannot stat"; return 1; fi
  size=$(echo "$st" | cut -d' ' -f1)
  mtime=$(echo "$st" | cut -d' ' -f2)
  created=$(echo "$b" | sed -n 's/^snap-\([0-9]\{4\}\)\([0-9]\{2\}\)\([0-9]\{2\}\)T\([0-9]\{2\}\)\([0-9]\{2\}\)\([0-9]\{2\}\)Z\.db$/\1-\2-\3T\4:\5:\6Z/p')
  err=''
  status=''
  if [ $((size % 512)) -ne 32 ]; then
    err="size $size bytes is not a database plus the 32-byte sha256 trailer etcd appends: truncated, or not an etcd snapshot"
  else
    want=$(tail -c 32 "$f" | od -An -v -tx1 | tr -d ' \n')
    have=$(head -c -32 "$f" | sha256sum | cut -c1-64)
    [ "$want" = "$have" ] || err="sha256 trailer mismatch (stored $want, computed $have): the file is corrupt"
  fi
  if [ -z "$err" ]; then
    out=$("$ETCDCTL" snapshot status "$f" -w json 2>&1)
    rc=$?
    status=$(printf '%s\n' "$out" | grep -E '^\{"hash":[0-9]+,"revision":[0-9]+,"totalKey":[0-9]+,"totalSize":[0-9]+\}$' | tail -n 1)
    if [ $rc -ne 0 ] || [ -z "$status" ]; then
      why=$(printf '%s\n' "$out" | grep -v '^{"level"' | grep -m 3 -E 'panic|rror|fault|invalid')
      [ -n "$why" ] || why=$(printf '%s\n' "$out" | tail -n 2)
      err="etcdctl snapshot status failed (exit $rc): $why"
      status=''
    fi
  fi
  ok=true
  [ -z "$err" ] || ok=false
  tmp="$DIR/.$b.json.$$"
  {
    printf '{"v":1,"file":"%s","master":"%s","origin":"%s","createdAt":"%s","sizeBytes":%s,"mtime":"%s","checkedAt":"%s","ok":%s' \
      "$b" "$MASTER" "$origin" "$created" "$size" "$mtime" "$(now)" "$ok"
    if [ -n "$status" ]; then printf ',"status":%s' "$status"; fi
    if [ -n "$crev" ]; then printf ',"clusterRevision":%s' "$crev"; fi
    if [ -n "$err" ]; then printf ',"error":"%s"' "$(printf '%s' "$err" | head -c 1500 | json_escape)"; fi
    printf '}\n'
  } > "$tmp" && mv -f "$tmp" "$f.json"
  [ "$ok" = true ]
}

save() {
  origin=manual
  [ $# -ge 1 ] && origin=$1
  if [ "$REQUIRE_MOUNT" = 1 ] && ! mountpoint -q "$DIR"; then
    log "$DIR is not a mounted disk: refusing to write snapshots to the root filesystem"
    return 2
  fi
  # only from a member that is part of a quorum: an isolated one would save an old database
  if ! crev=$(quorum_revision 2>"$DIR/.quorum.err"); then
    log "not part of a quorum ($(cat "$DIR/.quorum.err" 2>/dev/null)): no $origin snapshot from a member that may be behind the cluster"
    rm -f "$DIR/.quorum.err"
    return 3
  fi
  rm -f "$DIR/.quorum.err"
  # temp files of an interrupted save (nothing else runs: the lock is held)
  rm -f "$DIR"/.snap-*.db.tmp "$DIR"/.snap-*.db.tmp.part "$DIR"/.snap-*.db.json.*
  ts=$(date -u +%Y%m%dT%H%M%SZ)
  while [ -e "$DIR/snap-$ts.db" ]; do sleep 1; ts=$(date -u +%Y%m%dT%H%M%SZ); done
  f="$DIR/snap-$ts.db"
  tmp="$DIR/.snap-$ts.db.tmp"
  if ! out=$("$ETCDCTL" --endpoints="$ENDPOINT" --cacert="$CACERT" --cert="$CERT" --key="$KEY" \
      --dial-timeout=3s --command-timeout=60s snapshot save "$tmp" 2>&1); then
    rm -f "$tmp" "$tmp.part"
    log "snapshot save failed: $(printf '%s\n' "$out" | grep -v '^{"level"' | tail -n 1)"
    return 1
  fi
  mv -f "$tmp" "$f"
  if verify "$f" "$origin" "$crev"; then
    log "snap-$ts.db saved ($origin): good, $(sed -n 's/.*"status":{\([^}]*\)}.*/\1/p' "$f.json")"
    rc=0
  else
    log "snap-$ts.db saved ($origin) but BAD: $(sed -n 's/.*"error":"\(.*\)"}$/\1/p' "$f.json")"
    rc=1
  fi
  cat "$f.json"
  return $rc
}

prune() {
  keep=$RETAIN
  [ "$keep" -ge 1 ] 2>/dev/null || keep=1
  for j in "$DIR"/snap-*.db.json; do
    [ -f "$j" ] || continue
    [ -f "$(echo "$j" | sed 's/\.json$//')" ] || rm -f "$j"
  done
  n=0
  for b in $(snapshots | sort -r); do
    f="$DIR/$b"
    fresh "$f" || verify "$f" "$(origin_of "$f")" "$(quorum_of "$f")" || true
    if is_good "$f"; then
      n=$((n + 1))
      if [ "$n" -gt "$keep" ]; then
        rm -f "$f" "$f.json"
        log "pruned $b (keeping the $keep newest good snapshots)"
      fi
    fi
  done
  return 0
}

list() {
  for b in $(snapshots); do
    f="$DIR/$b"
    fresh "$f" || verify "$f" "$(origin_of "$f")" "$(quorum_of "$f")" || true
    [ -f "$f.json" ] && head -n 1 "$f.json"
  done
  return 0
}

sp=''
stop() { [ -n "$sp" ] && kill "$sp" 2>/dev/null; exit 0; }

pause() {
  [ "$1" -gt 0 ] || return 0
  sleep "$1" &
  sp=$!
  wait "$sp"
  sp=''
}

loop() {
  trap stop TERM INT
  log "a snapshot every $INTERVAL s into $DIR, keeping the $RETAIN newest good ones"
  # after a restart, wait out what is left of the interval since the newest snapshot
  last=$(snapshots | tail -n 1)
  if [ -n "$last" ]; then
    age=$(( $(date +%s) - $(stat -c %Y "$DIR/$last") ))
    if [ "$age" -ge 0 ] && [ "$age" -lt "$INTERVAL" ]; then pause $((INTERVAL - age)); fi
  fi
  while :; do
    next=$(( $(date +%s) + INTERVAL ))
    locked cycle
    pause $(( next - $(date +%s) ))
  done
}

# one scheduled round under one lock: a listing never sees RETAIN + 1 good snapshots
cycle() {
  save schedule > /dev/null
  prune
}

# run "$@" holding the lock (waits up to 300 s for another snapshot operation)
locked() {
  (
    flock -w 300 9 || { log "another snapshot operation still holds $DIR/.lock"; exit 75; }
    "$@"
  ) 9> "$DIR/.lock"
}

cmd=$1
[ $# -gt 0 ] && shift
case "$cmd" in
  save) locked save "$@" ;;
  verify) locked verify "$1" "$(origin_of "$1")" "$(quorum_of "$1")" && cat "$1.json" || { cat "$1.json" 2>/dev/null; exit 1; } ;;
  list)
    # reading needs no exclusivity (files appear by rename, sidecars are replaced atomically), but
    # waiting for a running save or prune gives a listing that includes its result
    ( flock -w 90 9 || log "listing without the lock"; list ) 9> "$DIR/.lock" ;;
  prune) locked prune ;;
  loop)
    if [ "$INTERVAL" -le 0 ] 2>/dev/null; then log "INTERVAL is 0: no scheduled snapshots"; exec sleep 2147483647; fi
    loop ;;
  *) echo "usage: $0 save [manual|schedule] | verify FILE | list | prune | loop" >&2; exit 64 ;;
esac
`;

export function renderSnapshotScript(o: SnapshotScriptOptions): string {
  const int = (n: number, what: string) => {
    if (!Number.isInteger(n) || n < 0) throw new Error(`${what} must be a non-negative integer, got ${n}`);
    return String(n);
  };
  return (
    [
      '#!/bin/sh',
      `# generated by halab: etcd snapshots of ${o.master} on its snapshot disk (${o.dir}). Edit the lab spec, not this file.`,
      '# usage: etcd-snapshot.sh save [manual|schedule] | verify FILE | list | prune | loop',
      'umask 077',
      'LC_ALL=C; export LC_ALL',
      'ETCDCTL_API=3; export ETCDCTL_API',
      `MASTER=${shq(o.master)}`,
      `DIR=${shq(o.dir)}`,
      `INTERVAL=${int(o.intervalS, 'intervalS')}`,
      `RETAIN=${int(o.retain, 'retain')}`,
      `ETCDCTL=${shq(o.etcdctl)}`,
      `ENDPOINT=${shq(o.endpoint)}`,
      `CACERT=${shq(o.cacert)}`,
      `CERT=${shq(o.cert)}`,
      `KEY=${shq(o.key)}`,
      `REQUIRE_MOUNT=${o.requireMount === false ? 0 : 1}`,
      `QUORUM_TIMEOUT=${int(o.quorumTimeoutS ?? 5, 'quorumTimeoutS')}`,
    ].join('\n') + BODY
  );
}
