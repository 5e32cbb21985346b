// apiserverEtcd: local (kubeadm's stacked etcd) on a real lab: each kube-apiserver is given only
// the etcd member of its own master, and when a master loses power the live apiservers have no
// request waiting on the dead member: the master-down drill measures no quorum stall, and reads
// through the VIP fail at most as predicted (the few that HAProxy cuts while they are still
// connecting to the dead master). The default topology (every member) is tested in drills.test.ts.
import { describe, expect, it } from 'vitest';
import type { DrillResult } from '../../provisioning/api/drills.ts';
import { controlPlaneStatus } from '../../provisioning/engine/cp-status.ts';
import { runDrill } from '../../provisioning/drills/index.ts';
import { skipUnlessRoot } from './helpers.ts';
import { useLab } from './lab-fixture.ts';

const skip = skipUnlessRoot();
const LAB = 'itstack';
const SUBNET = '10.213.85.0/24';

const measured = (r: DrillResult, id: string) => r.measurements.find((m) => m.id === id)!;
const prediction = (r: DrillResult, id: string) => r.predictions.find((p) => p.id === id)!;
const failed = (r: DrillResult) => JSON.stringify({ error: r.error, failed: r.checks.filter((c) => !c.ok) }, null, 1);

describe.skipIf(!!skip)('apiserverEtcd local (stacked etcd) on a real lab', () => {
  const fx = useLab({ tag: 'stack', name: LAB, subnet: SUBNET, input: { bootstrap: 'fast', apiserverEtcd: 'local' } });

  it("each kube-apiserver runs with only its own master's etcd member", async () => {
    for (const m of fx.lab.state.spec.hosts.filter((h) => h.role === 'master')) {
      // the running process's own command line
      const pid = (await fx.lab.services(m.name).status()).find((x) => x.name === 'kube-apiserver')?.pid;
      const run = (await fx.lab.remote(m.name).exec(`tr '\\0' ' ' < /proc/${pid}/cmdline`)).stdout;
      expect(run, m.name).toContain(`--etcd-servers=https://${m.address}:2379`);
      expect(run, m.name).not.toMatch(/--etcd-servers=\S*,/);
    }
  });

  it('master-down: no quorum request stalls on the dead member, reads fail at most as predicted', async () => {
    const r = await runDrill(fx.lab, 'master-down', { emit: () => {} });
    expect(r.ok, failed(r)).toBe(true);
    const stall = measured(r, 'quorum-stall');
    const ps = prediction(r, 'quorum-stall');
    // 0 s predicted, margin: HAProxy marking the dead master DOWN + 1 s; with every member it is ~10 s
    expect(ps.value).toBe(0);
    expect(stall.value).toBeLessThanOrEqual(ps.value + ps.margin);
    const reads = measured(r, 'read-failures');
    const pr = prediction(r, 'read-failures');
    expect(reads.value).toBeLessThanOrEqual(pr.value + pr.margin);
    expect(measured(r, 'read-outage').value).toBeLessThanOrEqual(
      prediction(r, 'read-outage').value + prediction(r, 'read-outage').margin,
    );
    // and the lab is whole again
    const st = await controlPlaneStatus(fx.lab);
    expect(st.etcd.filter((x) => x.healthy).length).toBe(3);
    expect(st.apiservers.filter((a) => a.ready).length).toBe(3);
    expect(st.vipHolder).toBe('lb1');
  });
});
