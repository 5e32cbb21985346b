import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { fakeLab, testSpec } from '../../engine/fake-lab.testutil.ts';
import type { StepTools } from '../../engine/runner.ts';
import { joinNode } from './steps.ts';
import { DisksSchema, LabSpecInputSchema, SnapshotsSchema, TimersSchema } from '../../spec/schema.ts';
import { kubeadmComponents, staticPodCommand } from './components.ts';
import { corednsConfigMap, kubeletPatch, renderInit, renderJoin } from './config.ts';
import { kubeadmBootstrap } from './index.ts';
import { podCidr } from './network.ts';
import { cgroupMounts, cniConflist, containerdConfig, nodeBootTask, routesBootTask } from './node-files.ts';
import { caCertHash, newToken } from './secrets.ts';
import { KUBEADM_SPEC_FIELDS, kubeadmSpecIssues } from './spec-support.ts';

const spec = testSpec({ bootstrap: 'kubeadm' });
const secrets = {
  token: 'abcdef.0123456789abcdef',
  certificateKey: 'a'.repeat(64),
  caCertHash: `sha256:${'b'.repeat(64)}`,
};
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- YAML documents read by shape in assertions
const docs = (text: string) => parseAllDocuments(text).map((d) => d.toJSON() as Record<string, any>);

describe('kubeadm configuration', () => {
  it('init: through the VIP, external TLS etcd with every member, the lab timers, the token, no podSubnet, per-node cgroup root', () => {
    const [init, cluster, kubelet, proxy] = docs(renderInit(spec, secrets));
    expect(init!.kind).toBe('InitConfiguration');
    expect(init!.bootstrapTokens[0].token).toBe(secrets.token);
    expect(init!.certificateKey).toBe(secrets.certificateKey);
    expect(init!.localAPIEndpoint.advertiseAddress).toBe('10.213.51.21');
    expect(init!.skipPhases).toEqual(['addon/coredns']);
    expect(init!.nodeRegistration.ignorePreflightErrors).toEqual(['ExternalEtcdVersion']);
    expect(cluster!.controlPlaneEndpoint).toBe('10.213.51.10:6443');
    // masters' kubelets use the VIP too (kubeadm's kubelet.conf gets the endpoint, not the local apiserver)
    expect(cluster!.featureGates).toEqual({ ControlPlaneKubeletLocalMode: false });
    expect(cluster!.etcd.external.endpoints).toEqual([
      'https://10.213.51.21:2379',
      'https://10.213.51.22:2379',
      'https://10.213.51.23:2379',
    ]);
    expect(cluster!.networking.podSubnet).toBeUndefined();
    expect(cluster!.controllerManager.extraArgs).toContainEqual({
      name: 'node-monitor-grace-period',
      value: `${spec.timers.nodeMonitorGracePeriodS}s`,
    });
    expect(cluster!.apiServer.extraArgs).toContainEqual({
      name: 'default-unreachable-toleration-seconds',
      value: String(spec.timers.podEvictionTolerationS),
    });
    expect(kubelet!.cgroupDriver).toBe('cgroupfs');
    expect(kubelet!.protectKernelDefaults).toBe(true);
    expect(kubelet!.nodeLeaseDurationSeconds).toBe(4 * spec.timers.nodeStatusUpdateFrequencyS);
    expect(kubelet!.resolvConf).toBe('');
    expect(proxy!.conntrack.maxPerCore).toBe(0);
    expect(proxy!.clusterCIDR).toBe('10.244.0.0/16');
    expect(kubeletPatch(spec, 'w2').content.trim()).toBe('cgroupRoot: /halab/etcddev/w2');
  });

  it('join: a control-plane join for a master (with the certificate key), a plain join with the worker label for a worker', () => {
    const [m] = docs(renderJoin(spec, 'm2', secrets));
    expect(m!.controlPlane).toEqual({
      localAPIEndpoint: { advertiseAddress: '10.213.51.22', bindPort: 6443 },
      certificateKey: secrets.certificateKey,
    });
    expect(m!.discovery.bootstrapToken).toEqual({
      apiServerEndpoint: '10.213.51.10:6443',
      token: secrets.token,
      caCertHashes: [secrets.caCertHash],
    });
    const [w] = docs(renderJoin(spec, 'w1', secrets));
    expect(w!.controlPlane).toBeUndefined();
    expect(w!.nodeRegistration.kubeletExtraArgs).toContainEqual({
      name: 'node-labels',
      value: 'halab.dev/worker=true',
    });
    expect(() => renderJoin(spec, 'lb1', secrets)).toThrow(/not a node/);
  });

  it("CoreDNS answers the cluster's names and forwards nothing out of the lab", () => {
    const cm = docs(corednsConfigMap(spec))[0]!;
    expect(cm.data.Corefile).toContain('kubernetes cluster.local in-addr.arpa ip6.arpa');
    expect(cm.data.Corefile).not.toContain('forward');
    expect(cm.data.Corefile).toContain('rcode NXDOMAIN');
  });

  it('refuses apiserverEtcd local, and says where every spec field takes effect', () => {
    expect(kubeadmSpecIssues({ ...spec, apiserverEtcd: 'local' })).toMatchObject([
      { severity: 'error', path: 'apiserverEtcd' },
    ]);
    expect(kubeadmSpecIssues(spec)).toEqual([]);
    const fields = [
      ...Object.keys(LabSpecInputSchema.shape).filter((k) => !['disks', 'timers', 'snapshots'].includes(k)),
      ...Object.keys(DisksSchema.shape).map((k) => `disks.${k}`),
      ...Object.keys(TimersSchema.shape).map((k) => `timers.${k}`),
      ...Object.keys(SnapshotsSchema.shape).map((k) => `snapshots.${k}`),
    ];
    expect(Object.keys(KUBEADM_SPEC_FIELDS).sort()).toEqual(fields.sort());
  });
});

describe('node hosts', () => {
  it("gives each node the /24 of its address's last octet, routed on every other lab host", () => {
    expect(podCidr(spec, 'm1')).toBe('10.244.21.0/24');
    expect(podCidr(spec, 'w2')).toBe('10.244.32.0/24');
    const routes = routesBootTask(spec, 'lb1');
    expect(routes).toContain('ip route replace 10.244.32.0/24 via 10.213.51.32 dev eth0');
    expect(routesBootTask(spec, 'm1')).not.toContain('10.244.21.0/24');
    expect(JSON.parse(cniConflist(spec, 'w1')).plugins[0].ipam.ranges).toEqual([[{ subnet: '10.244.31.0/24' }]]);
    expect(JSON.parse(cniConflist(spec, 'w1')).plugins[0].ipMasq).toBe(false);
  });

  it("containerd: its own root, its cgroup under the host's root, the local pause image, every registry blocked", () => {
    const c = containerdConfig({ lab: 'lab1', host: 'w1', pauseImage: 'registry.k8s.io/pause:3.10.1' });
    expect(c).toContain("root = '/var/lib/containerd'");
    expect(c).toContain("path = '/halab/lab1/w1/containerd'");
    expect(c).toContain("sandbox = 'registry.k8s.io/pause:3.10.1'");
    expect(c).toContain('SystemdCgroup = false');
    expect(c).toContain('restrict_oom_score_adj = true');
  });

  it('the boot task mounts the machine cgroup hierarchies, masks the global kernel settings read-only, cleans only at boot', () => {
    const mi = [
      '35 24 0:30 / /sys/fs/cgroup/memory rw,nosuid shared:15 - cgroup cgroup rw,memory',
      '36 24 0:31 / /sys/fs/cgroup/unified rw,nosuid shared:16 - cgroup2 cgroup2 rw,nsdelegate',
      '37 24 0:32 / /proc rw - proc proc rw',
    ].join('\n');
    expect(cgroupMounts(mi)).toEqual(['memory:cgroup:rw,memory', 'unified:cgroup2:rw,nsdelegate']);
    const t = nodeBootTask({ lab: 'lab1', host: 'm1', cgroupMounts: cgroupMounts(mi) });
    expect(t).toContain('CGROOT=/halab/lab1/m1');
    expect(t).toContain('mount --bind -o ro "$f" "/proc/sys/$k"');
    expect(t).toContain('vm/overcommit_memory=1');
    expect(t).toMatch(/if \[ "\$\{BOOT:-1\}" = 1 \]; then\n {2}# what a power-off left behind/);
  });
});

describe('components', () => {
  it('stops a static pod by moving its manifest out (and waits), starts it by moving it back', () => {
    const stop = staticPodCommand('kube-apiserver', 'stop');
    expect(stop).toContain(
      'mv /etc/kubernetes/manifests/kube-apiserver.yaml /etc/kubernetes/manifests-stopped/kube-apiserver.yaml',
    );
    expect(stop).not.toContain('crictl stop');
    expect(staticPodCommand('kube-apiserver', 'kill')).toContain('crictl stop --timeout 0');
    expect(staticPodCommand('kube-apiserver', 'start')).toContain('https://127.0.0.1:6443/readyz');
  });

  it('orders a mixed action: services and the apiserver before its clients when starting, the reverse when stopping', () => {
    const lab = {
      services: () => ({
        command: (n: string | string[], a: string) => `svc ${a} ${([] as string[]).concat(n).join(',')}`,
      }),
    } as never;
    const start = kubeadmComponents.command(lab, 'm1', ['kube-scheduler', 'etcd', 'kube-apiserver'], 'start');
    expect(start.indexOf('svc start etcd')).toBeLessThan(start.indexOf('kube-apiserver.yaml'));
    expect(start.indexOf('kube-apiserver.yaml')).toBeLessThan(start.indexOf('kube-scheduler.yaml'));
    const stop = kubeadmComponents.command(lab, 'm1', ['etcd', 'kube-apiserver', 'kube-scheduler'], 'stop');
    expect(stop.indexOf('kube-scheduler.yaml')).toBeLessThan(stop.indexOf('kube-apiserver.yaml'));
    expect(stop.indexOf('kube-apiserver.yaml')).toBeLessThan(stop.indexOf('svc stop etcd'));
  });

  it('declares its steps in the kubeadm order and its nodes', () => {
    const ids = kubeadmBootstrap.steps(spec).map((s) => s.id);
    expect(ids.indexOf('etcd:healthy')).toBeLessThan(ids.indexOf('kubeadm:init'));
    expect(ids.indexOf('lb:ready')).toBeLessThan(ids.indexOf('kubeadm:init'));
    expect(ids.indexOf('kubeadm:init')).toBeLessThan(ids.indexOf('kubeadm:join'));
    // a started-again lab's API comes back only once the kubelets run its static pods
    expect(ids.indexOf('kubeadm:node-hosts')).toBeLessThan(ids.indexOf('lab:api-back'));
    expect(ids.indexOf('lab:api-back')).toBeLessThan(ids.indexOf('kubeadm:coredns'));
    expect(ids.at(-1)).toBe('control-plane:leaders');
    expect(kubeadmBootstrap.nodeNames(spec)).toEqual(['m1', 'm2', 'm3', 'w1', 'w2']);
    expect(kubeadmBootstrap.hasControlPlane({ completedSteps: ['kubeadm:init'] } as never)).toBe(true);
  });
});

describe('kubeadm join', () => {
  const PREFLIGHT = "error execution phase preflight: couldn't validate the identity of the API Server";
  // each call to `kubeadm join` on w1 answers with the next reply (the last one repeats)
  function labAnswering(replies: { exitCode: number; stderr?: string }[]) {
    const joins: string[] = [];
    const lab = fakeLab(testSpec(), (host, command) => {
      if (!command.includes('kubeadm join')) return undefined;
      joins.push(host.host);
      return replies[Math.min(joins.length, replies.length) - 1];
    });
    const logs: string[] = [];
    const t: StepTools = { signal: new AbortController().signal, log: (m) => logs.push(m), progress: () => {} };
    return { lab, t, joins, logs };
  }

  it('tries a join that failed in its preflight phase again, 3 calls at most, then reports kubeadm', async () => {
    const ok = labAnswering([{ exitCode: 1, stderr: PREFLIGHT }, { exitCode: 0 }]);
    await joinNode(ok.lab, 'w1', ok.t, 1);
    expect(ok.joins).toEqual(['w1', 'w1']);
    expect(ok.logs).toContain('kubeadm join failed in its preflight phase: trying again (2/3)');

    const never = labAnswering([{ exitCode: 1, stderr: PREFLIGHT }]);
    await expect(joinNode(never.lab, 'w1', never.t, 1)).rejects.toMatchObject({
      code: 'KUBEADM_FAILED',
      message: 'kubeadm join on w1 failed (exit 1)',
    });
    expect(never.joins).toHaveLength(3);
  });

  it('does not try again a join that failed after its preflight phase (it may have changed the node)', async () => {
    const late = labAnswering([{ exitCode: 1, stderr: 'error execution phase kubelet-start: timed out' }]);
    await expect(joinNode(late.lab, 'w1', late.t, 1)).rejects.toMatchObject({ code: 'KUBEADM_FAILED' });
    expect(late.joins).toHaveLength(1);
    expect(late.logs.some((l) => l.includes('trying again'))).toBe(false);
  });
});

describe('join secrets', () => {
  it("makes tokens in kubeadm's format and pins the CA by its public key", async () => {
    expect(newToken()).toMatch(/^[a-z0-9]{6}\.[a-z0-9]{16}$/);
    // a fixed self-signed certificate: the pin is the sha256 of its SubjectPublicKeyInfo
    const pem = CERT;
    const spki = new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' });
    const { createHash } = await import('node:crypto');
    expect(caCertHash(pem)).toBe(`sha256:${createHash('sha256').update(spki).digest('hex')}`);
  });
});

const CERT = `-----BEGIN CERTIFICATE-----
MIIBfjCCASWgAwIBAgIUJDwRLuyssPEtxXE/xKMmddYj/CUwCgYIKoZIzj0EAwIw
FTETMBEGA1UEAwwKaGFsYWItdGVzdDAeFw0yNjExMzAyMjE3NThaFw0zNjExMjcy
MjE3NThaMBUxEzARBgNVBAMMCmhhbGFiLXRlc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAAQPlZ3zhTLYBC0C85gOAPkyBtK9eTuTBhWcbEFDPsukEYr0ZunOpSzi
OJ2XJIu2nwaJi1/YyUrhs8JjeVDT5gr3o1MwUTAdBgNVHQ4EFgQUo4koRqd+20fw
+f5hW+Js1TqpHTMwHwYDVR0jBBgwFoAUo4koRqd+20fw+f5hW+Js1TqpHTMwDwYD
VR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNHADBEAiA7xtNIAUABnb45WF3reQDn
gvZU7SmlUnLFm74XJc49nwIgYvaPGEXt7MhnZwvyqdFgcHD7DhHPE5Tro0+ZMudO
FxE=
-----END CERTIFICATE-----`;
