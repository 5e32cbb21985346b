import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { answerFileProbes, fakeLab, testSpec } from '../../engine/fake-lab.testutil.ts';
import { distributePki, distributionPlan, pkiDistributed } from './distribute.ts';
import { kubeconfigServer, pkiBatches, pkiTasks, renderGenerationConfigs, setKubeconfigServer } from './generate.ts';
import {
  apiServerCertSANs,
  apiserverEtcdEndpoints,
  clusterNetworking,
  renderClusterConfig,
  renderEtcdCertConfig,
  renderNodeConfig,
} from './kubeadm-config.ts';
import { localPki } from './paths.ts';

const spec = testSpec();

describe('kubeadm config', () => {
  it('renders the cluster config of m2 (InitConfiguration + ClusterConfiguration, external etcd)', () => {
    expect(renderClusterConfig(spec, 'm2')).toMatchInlineSnapshot(`
      "apiVersion: kubeadm.k8s.io/v1beta4
      kind: InitConfiguration
      localAPIEndpoint:
        advertiseAddress: 10.213.51.22
        bindPort: 6443
      nodeRegistration:
        name: m2
        criSocket: unix:///run/containerd/containerd.sock
        imagePullPolicy: IfNotPresent
        taints: []
      ---
      apiVersion: kubeadm.k8s.io/v1beta4
      kind: ClusterConfiguration
      clusterName: etcddev
      kubernetesVersion: v1.34.4
      controlPlaneEndpoint: 10.213.51.10:6443
      certificatesDir: /etc/kubernetes/pki
      encryptionAlgorithm: RSA-2048
      networking:
        dnsDomain: cluster.local
        serviceSubnet: 10.96.0.0/16
        podSubnet: 10.244.0.0/16
      etcd:
        external:
          endpoints:
            - https://10.213.51.21:2379
            - https://10.213.51.22:2379
            - https://10.213.51.23:2379
          caFile: /etc/kubernetes/pki/etcd/ca.crt
          certFile: /etc/kubernetes/pki/apiserver-etcd-client.crt
          keyFile: /etc/kubernetes/pki/apiserver-etcd-client.key
      apiServer:
        certSANs:
          - 10.213.51.10
          - 10.213.51.21
          - 10.213.51.22
          - 10.213.51.23
          - m1
          - m2
          - m3
          - 127.0.0.1
          - localhost
      "
    `);
  });

  it('renders the etcd-cert config with local etcd and the member identity', () => {
    const [init, cluster] = parseAllDocuments(
      renderEtcdCertConfig(spec, 'm3', { certificatesDir: '/x/members/m3' }),
    ).map((d) => d.toJS());
    expect(init.nodeRegistration.name).toBe('m3');
    expect(init.localAPIEndpoint.advertiseAddress).toBe('10.213.51.23');
    expect(cluster.etcd).toEqual({ local: { dataDir: '/var/lib/etcd/data', serverCertSANs: [], peerCertSANs: [] } });
    expect(cluster.certificatesDir).toBe('/x/members/m3');
  });

  it('renders a node config for any valid node name, refuses others', () => {
    const [init] = parseAllDocuments(renderNodeConfig(spec, 'hollow-w1-001', { certificatesDir: '/x' })).map((d) =>
      d.toJS(),
    );
    expect(init.nodeRegistration.name).toBe('hollow-w1-001');
    expect(init.localAPIEndpoint.advertiseAddress).toBe('10.213.51.21');
    const [w] = parseAllDocuments(renderNodeConfig(spec, 'w2', { certificatesDir: '/x' })).map((d) => d.toJS());
    expect(w.localAPIEndpoint.advertiseAddress).toBe('10.213.51.32');
    expect(() => renderNodeConfig(spec, 'Bad_Name', { certificatesDir: '/x' })).toThrow(/not a valid node name/);
  });

  it('gives each kube-apiserver every etcd member (all) or only its own (local, stacked)', () => {
    const endpoints = (sp: typeof spec, m: string) =>
      parseAllDocuments(renderClusterConfig(sp, m)).map((d) => d.toJS())[1].etcd.external.endpoints;
    const all = ['https://10.213.51.21:2379', 'https://10.213.51.22:2379', 'https://10.213.51.23:2379'];
    expect(endpoints(spec, 'm2')).toEqual(all);
    expect(apiserverEtcdEndpoints(spec)).toEqual(all);
    const local = testSpec({ apiserverEtcd: 'local' });
    expect(endpoints(local, 'm2')).toEqual(['https://10.213.51.22:2379']);
    expect(endpoints(local, 'm3')).toEqual(['https://10.213.51.23:2379']);
    // without a master (the certificate phases) every member is listed
    expect(apiserverEtcdEndpoints(local)).toEqual(all);
  });

  it('refuses a master that is not one', () => {
    expect(() => renderClusterConfig(spec, 'w1')).toThrow(/not a master/);
  });

  it('keeps service and pod ranges off the lab subnet', () => {
    expect(clusterNetworking({ subnet: '10.213.51.0/24' })).toEqual({
      serviceSubnet: '10.96.0.0/16',
      podSubnet: '10.244.0.0/16',
      dnsDomain: 'cluster.local',
      apiServiceIP: '10.96.0.1',
    });
    expect(clusterNetworking({ subnet: '10.96.5.0/24' })).toMatchObject({
      serviceSubnet: '172.30.0.0/16',
      apiServiceIP: '172.30.0.1',
      podSubnet: '10.244.0.0/16',
    });
    expect(clusterNetworking({ subnet: '10.0.0.0/8' })).toMatchObject({
      serviceSubnet: '172.30.0.0/16',
      podSubnet: '172.20.0.0/16',
    });
  });

  it('apiserver SANs: VIP, every master address and name, loopback', () => {
    expect(apiServerCertSANs(spec)).toEqual([
      '10.213.51.10',
      '10.213.51.21',
      '10.213.51.22',
      '10.213.51.23',
      'm1',
      'm2',
      'm3',
      '127.0.0.1',
      'localhost',
    ]);
  });
});

describe('generation plan', () => {
  const pki = localPki('/lab');

  it("batches what runs side by side after the CAs: each member's two runs together, in order; every other run alone", () => {
    const batches = pkiBatches(pkiTasks(spec, pki).filter((t) => !t.ca));
    const members = batches.filter((b) => b.some((t) => t.member));
    expect(members.map((b) => b.map((t) => t.id))).toEqual([
      ['certs etcd-server (m1)', 'certs etcd-peer (m1)'],
      ['certs etcd-server (m2)', 'certs etcd-peer (m2)'],
      ['certs etcd-server (m3)', 'certs etcd-peer (m3)'],
    ]);
    expect(batches.filter((b) => !b.some((t) => t.member)).every((b) => b.length === 1)).toBe(true);
    expect(batches.flat()).toHaveLength(pkiTasks(spec, pki).filter((t) => !t.ca).length);
  });

  it('runs the cluster phases, the etcd phases (CA once, server/peer per master) and the kubeconfigs', () => {
    const tasks = pkiTasks(spec, pki);
    expect(tasks.map((t) => `${t.id} <${t.config}>${t.ca ? ' CA' : ''}`)).toEqual([
      'certs ca <cluster.yaml> CA',
      'certs apiserver <cluster.yaml>',
      'certs apiserver-kubelet-client <cluster.yaml>',
      'certs front-proxy-ca <cluster.yaml> CA',
      'certs front-proxy-client <cluster.yaml>',
      'certs sa <cluster.yaml> CA',
      'certs etcd-ca <etcd-ca.yaml> CA',
      'certs etcd-healthcheck-client <etcd-ca.yaml>',
      'certs apiserver-etcd-client <etcd-ca.yaml>',
      'certs etcd-server (m1) <etcd-m1.yaml>',
      'certs etcd-peer (m1) <etcd-m1.yaml>',
      'certs etcd-server (m2) <etcd-m2.yaml>',
      'certs etcd-peer (m2) <etcd-m2.yaml>',
      'certs etcd-server (m3) <etcd-m3.yaml>',
      'certs etcd-peer (m3) <etcd-m3.yaml>',
      'kubeconfig admin <cluster.yaml>',
      'kubeconfig super-admin <cluster.yaml>',
      'kubeconfig controller-manager <cluster.yaml>',
      'kubeconfig scheduler <cluster.yaml>',
      'kubeconfig kubelet (w1) <node-w1.yaml>',
      'kubeconfig kubelet (w2) <node-w2.yaml>',
    ]);
    const server = tasks.find((t) => t.id === 'certs etcd-server (m2)')!;
    expect(server.args).toEqual(['init', 'phase', 'certs', 'etcd-server']);
    expect(server.outputs).toEqual(['/lab/pki/members/m2/etcd/server.crt', '/lab/pki/members/m2/etcd/server.key']);
    expect(tasks.find((t) => t.id === 'certs sa')!.outputs).toEqual([
      '/lab/pki/cluster/sa.key',
      '/lab/pki/cluster/sa.pub',
    ]);
  });

  it('renders one config per generation run, with local certificate dirs', () => {
    const c = renderGenerationConfigs(spec, pki);
    expect([...c.keys()]).toEqual([
      'cluster.yaml',
      'etcd-ca.yaml',
      'etcd-m1.yaml',
      'etcd-m2.yaml',
      'etcd-m3.yaml',
      'node-w1.yaml',
      'node-w2.yaml',
    ]);
    expect(c.get('cluster.yaml')).toContain('certificatesDir: /lab/pki/cluster\n');
    expect(c.get('etcd-m2.yaml')).toContain('certificatesDir: /lab/pki/members/m2\n');
    expect(c.get('etcd-ca.yaml')).toContain('certificatesDir: /lab/pki/cluster\n');
  });

  it('rewrites a kubeconfig server and nothing else', () => {
    const kc = [
      'apiVersion: v1',
      'clusters:',
      '- cluster:',
      '    certificate-authority-data: QUJD',
      '    server: https://10.213.51.21:6443',
      '  name: etcddev',
      'contexts:',
      '- context:',
      '    cluster: etcddev',
      '    user: system:kube-scheduler',
      '  name: s@etcddev',
      'current-context: s@etcddev',
      'kind: Config',
      'users:',
      '- name: system:kube-scheduler',
      '  user:',
      '    client-certificate-data: REVG',
      '',
    ].join('\n');
    const out = setKubeconfigServer(kc, 'https://10.213.51.10:6443');
    expect(kubeconfigServer(out)).toBe('https://10.213.51.10:6443');
    expect(out.replace('10.213.51.10', '10.213.51.21')).toBe(kc);
  });
});

describe('distribution', () => {
  const pki = localPki('/lab');
  const plan = distributionPlan(spec, pki);

  it('gives masters their own etcd member pair and no CA keys but the cluster CA key', () => {
    const m2 = plan.filter((f) => f.host === 'm2');
    expect(m2.map((f) => `${f.path} ${f.mode.toString(8)}`)).toMatchInlineSnapshot(`
      [
        "/etc/kubernetes/pki/ca.crt 644",
        "/etc/kubernetes/pki/ca.key 600",
        "/etc/kubernetes/pki/apiserver.crt 644",
        "/etc/kubernetes/pki/apiserver.key 600",
        "/etc/kubernetes/pki/apiserver-kubelet-client.crt 644",
        "/etc/kubernetes/pki/apiserver-kubelet-client.key 600",
        "/etc/kubernetes/pki/front-proxy-client.crt 644",
        "/etc/kubernetes/pki/front-proxy-client.key 600",
        "/etc/kubernetes/pki/apiserver-etcd-client.crt 644",
        "/etc/kubernetes/pki/apiserver-etcd-client.key 600",
        "/etc/kubernetes/pki/front-proxy-ca.crt 644",
        "/etc/kubernetes/pki/sa.key 600",
        "/etc/kubernetes/pki/sa.pub 644",
        "/etc/kubernetes/pki/etcd/ca.crt 644",
        "/etc/kubernetes/pki/etcd/healthcheck-client.crt 644",
        "/etc/kubernetes/pki/etcd/healthcheck-client.key 600",
        "/etc/kubernetes/pki/etcd/server.crt 644",
        "/etc/kubernetes/pki/etcd/server.key 600",
        "/etc/kubernetes/pki/etcd/peer.crt 644",
        "/etc/kubernetes/pki/etcd/peer.key 600",
        "/etc/kubernetes/admin.conf 600",
        "/etc/kubernetes/super-admin.conf 600",
        "/etc/kubernetes/controller-manager.conf 600",
        "/etc/kubernetes/scheduler.conf 600",
      ]
    `);
    expect(m2.find((f) => f.path.endsWith('etcd/server.crt'))!.local).toBe('/lab/pki/members/m2/etcd/server.crt');
    expect(plan.some((f) => /(etcd\/ca|front-proxy-ca)\.key$/.test(f.path))).toBe(false);
  });

  it('gives LBs the CA only, workers the CA and their kubelet.conf', () => {
    expect(plan.filter((f) => f.host === 'lb1')).toEqual([
      { host: 'lb1', path: '/etc/halab/pki/ca.crt', local: '/lab/pki/cluster/ca.crt', mode: 0o644 },
    ]);
    expect(plan.filter((f) => f.host === 'w2').map((f) => [f.path, f.local, f.mode])).toEqual([
      ['/etc/kubernetes/pki/ca.crt', '/lab/pki/cluster/ca.crt', 0o644],
      ['/etc/kubernetes/kubelet.conf', '/lab/pki/nodes/w2/kubelet.conf', 0o600],
    ]);
  });

  describe('over a fake SSH layer', () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'halab-pki-'));
      for (const f of new Set(distributionPlan(spec, localPki(dir)).map((x) => x.local))) {
        mkdirSync(join(f, '..'), { recursive: true });
        writeFileSync(f, `content of ${f}`);
      }
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it('uploads everything once, with modes, and is done afterwards', async () => {
      const lab = fakeLab(spec, answerFileProbes, dir);
      expect(await pkiDistributed(lab)).toBe(false);
      await distributePki(lab, { log: () => {}, progress: () => {} });
      expect(await pkiDistributed(lab)).toBe(true);
      const m1 = lab.hosts.get('m1')!;
      expect(m1.files.get('/etc/kubernetes/pki/etcd/peer.key')).toMatchObject({ mode: 0o600 });
      expect(m1.files.get('/etc/kubernetes/pki/etcd/peer.key')!.content.toString()).toBe(
        `content of ${join(dir, 'pki/members/m1/etcd/peer.key')}`,
      );
      expect(
        m1.commands.some((c) => c.startsWith('mkdir -p /etc/kubernetes /etc/kubernetes/pki /etc/kubernetes/pki/etcd')),
      ).toBe(true);
      expect(lab.hosts.get('lb2')!.files.get('/etc/halab/pki/ca.crt')).toMatchObject({ mode: 0o644 });
      // second run: nothing to upload
      const before = [...lab.hosts.values()].map((h) => h.uploads.length);
      await distributePki(lab, { log: () => {}, progress: () => {} });
      expect([...lab.hosts.values()].map((h) => h.uploads.length)).toEqual(before);
      // a host that lost a file (or had its mode changed) gets just that file again
      lab.hosts.get('w1')!.files.get('/etc/kubernetes/kubelet.conf')!.mode = 0o644;
      expect(await pkiDistributed(lab)).toBe(false);
      await distributePki(lab, { log: () => {}, progress: () => {} });
      expect(lab.hosts.get('w1')!.uploads.slice(-1)).toEqual(['/etc/kubernetes/kubelet.conf']);
      expect(await pkiDistributed(lab)).toBe(true);
    });
  });
});
