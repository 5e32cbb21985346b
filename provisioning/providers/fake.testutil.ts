// An in-memory provider for unit tests of the engine (up, down, status): its "hosts" are records
// in the lab state, its actions are recorded, and what `leftovers` reports is set by the test.
import type { DoctorCheck, LabSpec } from '../api/types.ts';
import type { LabContext } from '../engine/context.ts';
import type { Step } from '../engine/runner.ts';
import { FakeServices } from '../hosts/fake-services.testutil.ts';
import type { ServiceManager } from '../hosts/services.ts';
import type { HostPowerState, NodeProvider, PowerAction } from './types.ts';

export class FakeProvider implements NodeProvider {
  readonly name = 'netns' as const;
  readonly title = 'in-memory hosts (tests)';
  /** What happened, in order: "create m1", "destroy", "power m1 off"... */
  readonly actions: string[] = [];
  /** Hosts that exist (created and not destroyed), whether they are on, frozen, plugged in. */
  readonly hosts = new Map<string, { on: boolean; frozen?: boolean; unplugged?: boolean }>();
  /** Disk images kept on "disk" (host/disk), as removeHost leaves them. */
  readonly keptDisks = new Set<string>();
  /** What leftovers() reports next (the test sets it). */
  left: string[] = [];
  /** What preflight() reports (the test sets it). */
  checks: DoctorCheck[] = [];
  readonly svc = new Map<string, FakeServices>();

  async preflight() {
    return this.checks;
  }

  createSteps(spec: LabSpec): Step<LabContext>[] {
    return [
      {
        id: 'fake:hosts',
        title: `Create ${spec.hosts.length} in-memory hosts`,
        done: async (lab) => spec.hosts.every((h) => this.hosts.has(h.name) && lab.state.hosts[h.name]?.hostKey),
        run: async (lab) => {
          for (const h of spec.hosts) {
            if (!this.hosts.has(h.name)) this.actions.push(`create ${h.name}`);
            this.hosts.set(h.name, { on: true });
            lab.state.hosts[h.name] = {
              name: h.name,
              role: h.role,
              address: h.address,
              hostKey: `ssh-ed25519 FAKE${h.name}`,
            };
          }
          lab.state.provider = { kind: 'netns', fake: true };
          await lab.save();
        },
      },
    ];
  }

  async destroy(_lab: LabContext) {
    this.actions.push('destroy');
    this.hosts.clear();
  }

  async leftovers() {
    return [...this.left];
  }

  async power(_lab: LabContext, host: string, action: PowerAction) {
    this.actions.push(`power ${host} ${action}`);
    const h = this.hosts.get(host);
    if (!h) return;
    if (action === 'off' || action === 'on') {
      h.on = action === 'on';
      h.frozen = false;
    }
    if (action === 'freeze' || action === 'thaw') h.frozen = h.on && action === 'freeze';
    if (action === 'link-down' || action === 'link-up') h.unplugged = action === 'link-down';
  }

  async isPoweredOn(_lab: LabContext, host: string) {
    return this.hosts.get(host)?.on ?? false;
  }

  async hostState(_lab: LabContext, host: string): Promise<HostPowerState> {
    const h = this.hosts.get(host);
    return { on: !!h?.on, frozen: !!h?.on && !!h.frozen, plugged: !!h && !h.unplugged };
  }

  /** Stopped: the hosts are gone from "the kernel", the state stays (createSteps make them again). */
  async stop(_lab: LabContext) {
    this.actions.push('stop');
    this.hosts.clear();
  }

  async removeHost(lab: LabContext, host: string, o: { keepDisks?: string[] }) {
    this.actions.push(`remove ${host}${o.keepDisks?.length ? ` keep ${o.keepDisks.join(',')}` : ''}`);
    this.hosts.delete(host);
    for (const d of o.keepDisks ?? []) this.keptDisks.add(`${host}/${d}`);
    delete lab.state.hosts[host];
    await lab.save();
  }

  async shareDirectory(_lab: LabContext, host: string, localDir: string, hostPath: string) {
    this.actions.push(`share ${localDir} ${host}:${hostPath}`);
  }

  services(_lab: LabContext, host: string): ServiceManager {
    let s = this.svc.get(host);
    if (!s) this.svc.set(host, (s = new FakeServices()));
    return s;
  }

  ownInterfaces() {
    return ['fakebr0'];
  }
}
