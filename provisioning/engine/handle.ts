// An open lab: its recorded state, its SSH connections, its provider and bootstrap. Steps,
// drills and status readers all work with this one handle (the LabContext).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LabState } from '../api/types.ts';
import { getBootstrap } from '../bootstraps/index.ts';
import type { Bootstrap } from '../bootstraps/types.ts';
import { HalabError } from '../errors.ts';
import { SshRemote } from '../exec/ssh.ts';
import type { Remote } from '../exec/types.ts';
import type { ServiceManager } from '../hosts/services.ts';
import { getProvider } from '../providers/index.ts';
import type { NodeProvider } from '../providers/types.ts';
import { hostDisks, type PlanDisk } from '../spec/plan.ts';
import { labDir, readState, writeState } from '../state/store.ts';
import type { LabContext } from './context.ts';

/** What a lab is made with; tests hand in fakes, everything else takes the spec's. */
export interface LabParts {
  provider?: NodeProvider;
  bootstrap?: Bootstrap;
}

/** The lab's SSH key pair, in its state directory (made by the engine's first step). */
export function sshKeyPaths(dir: string) {
  return { privateKeyPath: join(dir, 'keys', 'id_ed25519'), publicKeyPath: join(dir, 'keys', 'id_ed25519.pub') };
}

export class LabHandle implements LabContext {
  private remotes = new Map<string, Remote>();
  readonly provider: NodeProvider;
  readonly bootstrap: Bootstrap;
  readonly sshKey: { privateKeyPath: string; publicKeyPath: string };

  constructor(
    public state: LabState,
    readonly dir: string,
    parts: LabParts = {},
  ) {
    this.provider = parts.provider ?? getProvider(state.spec.provider);
    this.bootstrap = parts.bootstrap ?? getBootstrap(state.spec.bootstrap);
    this.sshKey = sshKeyPaths(dir);
  }

  /** Open a lab from its recorded state. Errors: NO_LAB (with the fix). */
  static async open(name: string, parts: LabParts = {}): Promise<LabHandle> {
    const state = await readState(name);
    if (!state)
      throw new HalabError('NO_LAB', `there is no lab named ${name}`, {
        fix: 'see `halab list`, or create it with `halab up`',
      });
    return new LabHandle(state, labDir(name), parts);
  }

  async save(): Promise<void> {
    await writeState(this.state);
  }

  disks(host: string): PlanDisk[] {
    const h = this.state.spec.hosts.find((x) => x.name === host);
    if (!h) return [];
    return hostDisks(this.state.spec, h.role).map((d) => {
      const seed = this.bootstrap.diskSeed?.(this.state.spec, d.name);
      return seed ? { ...d, seed } : d;
    });
  }

  /** The pooled SSH connection to a host. Errors: NO_HOST, NO_HOST_KEY (host not made yet). */
  remote(host: string): Remote {
    let r = this.remotes.get(host);
    if (!r) {
      const hs = this.state.hosts[host];
      if (!hs)
        throw new HalabError('NO_HOST', `lab ${this.state.name} has no host ${host}`, {
          fix: `hosts: ${this.state.spec.hosts.map((h) => h.name).join(', ')}`,
        });
      if (!hs.hostKey)
        throw new HalabError('NO_HOST_KEY', `${host} has no recorded host key yet`, {
          fix: 'run `halab up` to finish creating the lab',
        });
      r = new SshRemote({
        host,
        address: hs.ssh?.address ?? hs.address,
        port: hs.ssh?.port,
        privateKey: readFileSync(this.sshKey.privateKeyPath),
        pinnedHostKey: hs.hostKey,
        connectTimeoutMs: hs.ssh?.connectTimeoutMs ?? 5000,
        ...(hs.ssh?.jump
          ? {
              jump: {
                host: `${host}'s jump host`,
                address: hs.ssh.jump.address,
                port: hs.ssh.jump.port,
                username: hs.ssh.jump.user,
                privateKey: readFileSync(hs.ssh.jump.privateKeyPath),
                pinnedHostKey: hs.ssh.jump.hostKey,
                connectTimeoutMs: hs.ssh.connectTimeoutMs ?? 5000,
              },
            }
          : {}),
      });
      this.remotes.set(host, r);
    }
    return r;
  }

  services(host: string): ServiceManager {
    return this.provider.services(this, host);
  }

  /** Close every SSH connection (the handle stays usable: connections reopen on demand). */
  async close(): Promise<void> {
    await Promise.all([...this.remotes.values()].map((r) => r.close()));
    this.remotes.clear();
  }
}

/**
 * The interfaces on this machine of an existing lab named `name` (none if there is no such lab):
 * a re-run's spec check does not count their addresses as taken.
 */
export async function ownInterfaces(name: string): Promise<string[]> {
  if (!/^[a-z0-9-]{1,20}$/.test(name) || !(await readState(name).catch(() => undefined))) return [];
  const lab = await LabHandle.open(name);
  return lab.provider.ownInterfaces(lab);
}
