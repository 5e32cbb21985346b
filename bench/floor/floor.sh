#!/usr/bin/env bash
# The floor of HA Lab's first phases: the least a plain shell script has to do, with the same real
# tools, to reach the same "ready" as `halab up`. `npm run bench -- floor` runs it in the same run
# as HA Lab's labs and prints HA Lab's time / this script's time per phase (bench/kubeadm.ts).
#
#   floor.sh NAME PREFIX      e.g. floor.sh bnfl 10.213.204   (root; NAME: 2-8 lowercase letters/digits)
#
# The layout of HA Lab's reference lab: 7 hosts (lb1 .11, lb2 .12, m1-m3 .21-.23, w1-w2 .31-.32),
# the VIP .10, this machine .1 on the bridge, PREFIX.0/24. Three phases, each timed on its own and
# printed as "phase <name> <seconds>" (and "step <name> <seconds>" for its parts):
#
#   hosts  a bridge, one network namespace per host (IPv6 off, ip_nonlocal_bind), a veth pair with
#          a static address and a default route; per host an ed25519 host key (pinned in a
#          known_hosts file) and an sshd on the host's address that takes one client key for root.
#          Ready: `ssh root@ADDR hostname` answers with the pinned key, on every host (in parallel).
#   etcd   openssl: a CA, one RSA-2048 certificate per member (serverAuth + clientAuth, IP SANs of
#          the member and 127.0.0.1; used for client and peer TLS) and one client certificate for
#          etcdctl (kubeadm makes RSA-2048 too, with separate server and peer certificates). Three
#          members in the masters' namespaces, mutual TLS on the client and the peer ports
#          (--client-cert-auth, --peer-client-cert-auth), the lab's timers (heartbeat 100 ms,
#          election 1000 ms). Ready: `etcdctl endpoint health --cluster` over TLS (polled every 0.1 s).
#   lb     haproxy on lb1 and lb2 (TCP frontend on VIP:6443 and 127.0.0.1:6443, /readyz checks of
#          the three masters over TLS with the CA, a monitor URI on 127.0.0.1:8404), then, once both
#          answer (as HA Lab does), keepalived (VRRP v3, unicast, advert 0.2 s like the lab, lb1
#          MASTER priority 101, lb2 BACKUP 100, a track script on HAProxy's monitor URI). Ready: the
#          VIP on lb1 and not on lb2, and HAProxy answering its monitor URI on both (polled every 0.1 s).
#
# What it leaves out, that HA Lab does in the same phases: mount, UTS and PID namespaces per host
# (own /etc, /var/lib, /run, /root, hostname, a supervisor as PID 1), loop-backed ext4 disks,
# supervision, the whole Kubernetes PKI and kubeconfigs, copying files to the hosts over SFTP,
# validating the configs (haproxy -c, keepalived -t) before installing them, idempotence.
#
# Everything it creates is named NAME-* (namespaces), NAMEbr / NAMEv1..7 (links) or lives in one
# temporary directory; it is all removed on exit, on failure and on Ctrl-C (the processes: every
# process in the script's namespaces, by pid).
set -euo pipefail

NAME=${1:?usage: floor.sh NAME PREFIX}
PREFIX=${2:?usage: floor.sh NAME PREFIX}
[[ $NAME =~ ^[a-z][a-z0-9]{1,7}$ ]] || { echo "floor: NAME must be 2-8 lowercase letters/digits" >&2; exit 2; }
[[ $PREFIX =~ ^10\.[0-9]+\.[0-9]+$ ]] || { echo "floor: PREFIX must look like 10.213.210" >&2; exit 2; }
[[ $(id -u) == 0 ]] || { echo "floor: needs root" >&2; exit 2; }

HOSTS=(lb1 lb2 m1 m2 m3 w1 w2)
declare -A ADDR=([lb1]=11 [lb2]=12 [m1]=21 [m2]=22 [m3]=23 [w1]=31 [w2]=32)
MASTERS=(m1 m2 m3)
LBS=(lb1 lb2)
GW=$PREFIX.1
VIP=$PREFIX.10
BR=${NAME}br
TMP=$(mktemp -d "/tmp/${NAME}-floor.XXXXXX")

ns() { echo "$NAME-$1"; }
addr() { echo "$PREFIX.${ADDR[$1]}"; }
now() { date +%s.%N; }
between() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
since() { between "$1" "$(now)"; }

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for h in "${HOSTS[@]}"; do
    if [[ -e /run/netns/$(ns "$h") ]]; then
      # every process in the host's namespace was started by this script (sshd and its sessions,
      # etcd, haproxy, keepalived and its children)
      for pid in $(ip netns pids "$(ns "$h")" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    fi
  done
  for h in "${HOSTS[@]}"; do
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      [[ -z $(ip netns pids "$(ns "$h")" 2>/dev/null) ]] && break
      sleep 0.1
    done
    ip netns del "$(ns "$h")" 2>/dev/null || true
  done
  for i in 1 2 3 4 5 6 7; do ip link del "${NAME}v$i" 2>/dev/null || true; done
  ip link del "$BR" 2>/dev/null || true
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "floor: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
trap 'exit 130' INT
trap 'exit 143' TERM

# poll CMD... every 0.1 s until it succeeds, at most $WAIT seconds
poll() {
  local deadline
  deadline=$(echo "$(now) ${WAIT:-60}" | awk '{ printf "%.3f", $1 + $2 }')
  until "$@" >/dev/null 2>&1; do
    if awk -v n="$(now)" -v d="$deadline" 'BEGIN { exit !(n > d) }'; then
      echo "floor: timed out waiting for: $*" >&2
      "$@" >&2 || true
      return 1
    fi
    sleep 0.1
  done
}

# ---------------------------------------------------------------------------------------------
# phase 1: hosts reachable over SSH (HA Lab: lab:key + netns:*)
t0=$(now)
mkdir -p "$TMP/ssh"
ssh-keygen -q -t ed25519 -N '' -C "$NAME-client" -f "$TMP/ssh/client"
ip link add "$BR" type bridge stp_state 0 forward_delay 0
ip addr add "$GW/24" dev "$BR"
ip link set "$BR" up
i=0
for h in "${HOSTS[@]}"; do
  i=$((i + 1))
  n=$(ns "$h")
  ip netns add "$n"
  ip netns exec "$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 \
    net.ipv4.ip_nonlocal_bind=1
  ip link add "${NAME}v$i" type veth peer name eth0 netns "$n"
  ip link set "${NAME}v$i" master "$BR" up
  ip -n "$n" link set lo up
  ip -n "$n" addr add "$(addr "$h")/24" dev eth0
  ip -n "$n" link set eth0 up
  ip -n "$n" route replace default via "$GW"
done
t1=$(now)
for h in "${HOSTS[@]}"; do
  d=$TMP/ssh/$h
  mkdir -p "$d"
  ssh-keygen -q -t ed25519 -N '' -C "$NAME-$h" -f "$d/host_key"
  echo "$(addr "$h") $(cut -d' ' -f1,2 "$d/host_key.pub")" >>"$TMP/ssh/known_hosts"
  cat >"$d/sshd_config" <<EOF
ListenAddress $(addr "$h")
HostKey $d/host_key
PidFile $d/sshd.pid
PermitRootLogin prohibit-password
AuthorizedKeysFile $TMP/ssh/client.pub
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
StrictModes no
EOF
  ip netns exec "$(ns "$h")" /usr/sbin/sshd -f "$d/sshd_config" -E "$d/sshd.log"
done
t2=$(now)
ssh_ok() {
  [[ $(ssh -q -i "$TMP/ssh/client" -o BatchMode=yes -o ConnectTimeout=2 -o StrictHostKeyChecking=yes \
    -o UserKnownHostsFile="$TMP/ssh/known_hosts" -o GlobalKnownHostsFile=/dev/null "root@$(addr "$1")" hostname) ]]
}
pids=()
for h in "${HOSTS[@]}"; do
  WAIT=20 poll ssh_ok "$h" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
echo "step network $(between "$t0" "$t1")"
echo "step sshd $(between "$t1" "$t2")"
echo "step ssh-login $(since "$t2")"
echo "phase hosts $(since "$t0")"

# ---------------------------------------------------------------------------------------------
# phase 2: a TLS etcd cluster healthy (HA Lab: pki:generate + pki:distribute + etcd:members + etcd:healthy)
t0=$(now)
P=$TMP/pki
mkdir -p "$P"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$P/ca.key" -out "$P/ca.crt" -days 1 -subj "/CN=etcd-ca" \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
cert() { # NAME CN SAN
  openssl req -newkey rsa:2048 -nodes -keyout "$P/$1.key" -out "$P/$1.csr" -subj "/CN=$2" 2>/dev/null
  {
    echo basicConstraints=CA:FALSE
    echo keyUsage=critical,digitalSignature,keyEncipherment
    echo extendedKeyUsage=serverAuth,clientAuth
    [[ -z $3 ]] || echo "subjectAltName=$3"
  } >"$P/$1.ext"
  openssl x509 -req -in "$P/$1.csr" -CA "$P/ca.crt" -CAkey "$P/ca.key" -CAcreateserial -days 1 \
    -extfile "$P/$1.ext" -out "$P/$1.crt" 2>/dev/null
}
for m in "${MASTERS[@]}"; do cert "$m" "$m" "DNS:$m,DNS:localhost,IP:$(addr "$m"),IP:127.0.0.1"; done
cert client etcd-client ""
chmod 600 "$P"/*.key
t1=$(now)
cluster=""
for m in "${MASTERS[@]}"; do cluster+="${cluster:+,}$m=https://$(addr "$m"):2380"; done
for m in "${MASTERS[@]}"; do
  a=$(addr "$m")
  mkdir -p "$TMP/etcd/$m"
  ip netns exec "$(ns "$m")" etcd --name="$m" --data-dir="$TMP/etcd/$m/data" \
    --listen-peer-urls="https://$a:2380" --initial-advertise-peer-urls="https://$a:2380" \
    --listen-client-urls="https://$a:2379,https://127.0.0.1:2379" --advertise-client-urls="https://$a:2379" \
    --initial-cluster="$cluster" --initial-cluster-token="$NAME" --initial-cluster-state=new \
    --cert-file="$P/$m.crt" --key-file="$P/$m.key" --trusted-ca-file="$P/ca.crt" --client-cert-auth=true \
    --peer-cert-file="$P/$m.crt" --peer-key-file="$P/$m.key" --peer-trusted-ca-file="$P/ca.crt" \
    --peer-client-cert-auth=true --heartbeat-interval=100 --election-timeout=1000 \
    --logger=zap --log-outputs=stderr >"$TMP/etcd/$m/log" 2>&1 &
  disown $!
done
etcd_healthy() {
  ETCDCTL_API=3 ip netns exec "$(ns m1)" etcdctl --endpoints="https://$(addr m1):2379" --cacert="$P/ca.crt" \
    --cert="$P/client.crt" --key="$P/client.key" --dial-timeout=1s --command-timeout=2s endpoint health --cluster
}
WAIT=60 poll etcd_healthy
echo "step certs $(between "$t0" "$t1")"
echo "step etcd-start-healthy $(since "$t1")"
echo "phase etcd $(since "$t0")"

# ---------------------------------------------------------------------------------------------
# phase 3: HAProxy + keepalived holding the VIP (HA Lab: lb:configs + lb:haproxy + lb:keepalived + lb:ready)
t0=$(now)
for l in "${LBS[@]}"; do
  d=$TMP/$l
  mkdir -p "$d"
  cat >"$d/haproxy.cfg" <<EOF
global
    maxconn 4096
    nbthread 1
defaults
    mode tcp
    timeout connect 300ms
    timeout client 1h
    timeout server 1h
    timeout check 1000ms
frontend api
    bind $VIP:6443
    bind 127.0.0.1:6443
    default_backend apiservers
backend apiservers
    balance roundrobin
    option httpchk
    http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host kubernetes
    http-check expect status 200
    default-server inter 500ms fall 2 rise 2 check check-ssl verify required ca-file $P/ca.crt
$(for m in "${MASTERS[@]}"; do echo "    server $m $(addr "$m"):6443"; done)
frontend monitor
    mode http
    bind 127.0.0.1:8404
    monitor-uri /healthz
EOF
  if [[ $l == lb1 ]]; then state=MASTER prio=101 peer=$(addr lb2); else state=BACKUP prio=100 peer=$(addr lb1); fi
  cat >"$d/keepalived.conf" <<EOF
global_defs {
    router_id $NAME-$l
    enable_script_security
    script_user root
    vrrp_version 3
}
vrrp_script chk_haproxy {
    script "/usr/bin/curl -fs -m 1 -o /dev/null http://127.0.0.1:8404/healthz"
    interval 1
    timeout 2
    fall 2
    rise 2
}
vrrp_instance VI_API {
    state $state
    interface eth0
    virtual_router_id 13
    priority $prio
    advert_int 0.2
    unicast_src_ip $(addr "$l")
    unicast_peer {
        $peer
    }
    virtual_ipaddress {
        $VIP/24 dev eth0
    }
    track_script {
        chk_haproxy
    }
}
EOF
  ip netns exec "$(ns "$l")" haproxy -db -f "$d/haproxy.cfg" >"$d/haproxy.log" 2>&1 &
  disown $!
done
# keepalived after HAProxy answers: its track script would otherwise fail first and then need
# `rise` passes (2 s) before the MASTER may take the VIP
monitor_ok() { ip netns exec "$(ns "$1")" curl -fs -m 1 -o /dev/null http://127.0.0.1:8404/healthz; }
for l in "${LBS[@]}"; do WAIT=15 poll monitor_ok "$l"; done
for l in "${LBS[@]}"; do
  d=$TMP/$l
  ip netns exec "$(ns "$l")" keepalived -n -l -G -P -f "$d/keepalived.conf" -p "$d/keepalived.pid" \
    -r "$d/vrrp.pid" >"$d/keepalived.log" 2>&1 &
  disown $!
done
vip_ready() {
  ip -n "$(ns lb1)" -4 -o addr show dev eth0 | grep -q " $VIP/" || return 1
  ! ip -n "$(ns lb2)" -4 -o addr show dev eth0 | grep -q " $VIP/" || return 1
  for l in "${LBS[@]}"; do monitor_ok "$l" || return 1; done
}
WAIT=60 poll vip_ready
echo "phase lb $(since "$t0")"
