import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { testSpec } from '../../engine/fake-lab.testutil.ts';
import { generatePki, pkiGenerated } from './generate.ts';
import { localPki } from './paths.ts';

// A stand-in for kubeadm that writes what each phase writes (random content) and logs its calls.
// Member phases fail unless the etcd CA (cert and key) is in their certificatesDir, as kubeadm does.
const STUB = String.raw`#!/bin/sh
echo "$*" >> "$STUB_LOG"
kind=$3; name=$4; config=''; kdir=''
while [ $# -gt 0 ]; do
  case "$1" in --config) config=$2; shift ;; --kubeconfig-dir) kdir=$2; shift ;; esac
  shift
done
certs=$(sed -n 's/^certificatesDir: //p' "$config")
w() { mkdir -p "$(dirname "$1")"; echo "x$$-$(date +%s%N)" > "$1"; chmod "$2" "$1"; }
pair() { w "$certs/$1.key" 600; w "$certs/$1.crt" 644; }
if [ "$kind" = certs ]; then
  case "$name" in
    etcd-server|etcd-peer) [ -f "$certs/etcd/ca.key" ] && [ -f "$certs/etcd/ca.crt" ] || { echo "couldn't load etcd CA" >&2; exit 1; } ;;
  esac
  case "$name" in
    sa) w "$certs/sa.key" 600; w "$certs/sa.pub" 600 ;;
    etcd-ca) pair etcd/ca ;;
    etcd-server) pair etcd/server ;;
    etcd-peer) pair etcd/peer ;;
    etcd-healthcheck-client) pair etcd/healthcheck-client ;;
    *) pair "$name" ;;
  esac
else
  file="$name.conf"; server=https://10.213.51.21:6443
  case "$name" in admin|super-admin) server=https://10.213.51.10:6443 ;; esac
  printf 'apiVersion: v1\nclusters:\n- cluster:\n    server: %s\n  name: x\nkind: Config\n' "$server" > "$kdir/$file"
fi
`;

const spec = testSpec();
let dir: string;
let kubeadm: string;
let log: string;
const t = { log: () => {}, progress: () => {} };
const calls = () =>
  existsSync(log)
    ? readFileSync(log, 'utf8')
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => l.replace(/ --config \S+\/config\//, ' <').replace(/ --kubeconfig-dir \S+/, ''))
    : [];
const gen = () => generatePki(spec, dir, t, { kubeadm, check: false });

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'halab-gen-'));
  kubeadm = join(dir, 'kubeadm');
  log = join(dir, 'calls');
  writeFileSync(kubeadm, STUB);
  chmodSync(kubeadm, 0o755);
  process.env.STUB_LOG = log;
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('generatePki (stub kubeadm)', { timeout: 60_000 }, () => {
  it('runs every phase once, then nothing', async () => {
    expect(await pkiGenerated(spec, dir)).toBe(false);
    await gen();
    expect(calls()).toHaveLength(21);
    expect(calls()[9]).toBe('init phase certs etcd-server <etcd-m1.yaml');
    expect(await pkiGenerated(spec, dir)).toBe(true);
    const pki = localPki(dir);
    // the etcd CA key is only lent to a member's directory for its run
    expect(existsSync(join(pki.memberDir('m2'), 'etcd', 'ca.key'))).toBe(false);
    expect(existsSync(join(pki.memberDir('m2'), 'etcd', 'server.key'))).toBe(true);
    // kubeconfigs all point at the VIP
    for (const f of [join(pki.kubeconfigDir, 'scheduler.conf'), join(pki.nodeDir('w1'), 'kubelet.conf')]) {
      expect(readFileSync(f, 'utf8')).toContain('server: https://10.213.51.10:6443\n');
    }
    rmSync(log);
    await gen();
    expect(calls()).toEqual([]);
  });

  it('never regenerates an existing CA; regenerates only the missing leaf', async () => {
    await gen();
    const pki = localPki(dir);
    const ca = readFileSync(join(pki.clusterDir, 'ca.crt'), 'utf8');
    rmSync(log);
    rmSync(join(pki.clusterDir, 'apiserver.key'));
    await gen();
    expect(calls()).toEqual(['init phase certs apiserver <cluster.yaml']);
    expect(readFileSync(join(pki.clusterDir, 'ca.crt'), 'utf8')).toBe(ca);
  });

  it('refuses to continue when a CA certificate lost its key', async () => {
    await gen();
    rmSync(join(localPki(dir).clusterDir, 'etcd', 'ca.key'));
    await expect(gen()).rejects.toMatchObject({ code: 'PKI_CA_KEY_LOST' });
  });

  it('a CA key without its certificate (crash between the two writes) is replaced', async () => {
    const pki = localPki(dir);
    await gen();
    rmSync(join(pki.clusterDir, 'front-proxy-ca.crt'));
    rmSync(join(pki.clusterDir, 'front-proxy-client.crt'));
    rmSync(join(pki.clusterDir, 'front-proxy-client.key'));
    rmSync(log);
    await gen();
    expect(calls()).toEqual([
      'init phase certs front-proxy-ca <cluster.yaml',
      'init phase certs front-proxy-client <cluster.yaml',
    ]);
  });

  it('sa.pub lost: derived from sa.key, the signing key is kept', async () => {
    const pki = localPki(dir);
    await gen();
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const key = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    writeFileSync(join(pki.clusterDir, 'sa.key'), key);
    rmSync(join(pki.clusterDir, 'sa.pub'));
    rmSync(log);
    await gen();
    expect(calls()).toEqual([]);
    expect(readFileSync(join(pki.clusterDir, 'sa.key'), 'utf8')).toBe(key);
    expect(readFileSync(join(pki.clusterDir, 'sa.pub'), 'utf8')).toMatch(/^-----BEGIN PUBLIC KEY-----/);
  });

  it('a missing kubeadm is a clear error', async () => {
    await expect(generatePki(spec, dir, t, { kubeadm: join(dir, 'nope') })).rejects.toMatchObject({
      code: 'KUBEADM_MISSING',
    });
  });
});
