// `down` and the leak check of the existing provider: take back exactly what the lab put on each
// machine (with the user's key: the lab key is one of the things taken back), and list what is left.

import { join } from 'node:path';

import type { LabContext } from '../../engine/context.ts';
import { forEachLimit } from '../../engine/runner.ts';

import { shq } from '../../exec/types.ts';

import { removeScript } from '../../hosts/supervisor.ts';

import {
  addedPaths,
  addedRulesScript,
  addedProcesses,
  labServicesScript,
  listScript,
  PROCS_SCRIPT,
  restoreFilesScript,
  restoreRulesScript,
  storeDir,
} from './footprint.ts';
import { loginOf, type Session } from './login.ts';

import { cableInScript, chainNames } from './power.ts';
import { existingState } from './state.ts';

import { keyMarker, localDir, localText, must, SCAN, type OpenSession } from './host-prep.ts';

export async function destroyLab(
  lab: LabContext,
  t: { log: (m: string, o?: { level?: 'info' | 'warn' }) => void },
  open: OpenSession,
): Promise<void> {
  if (!lab.state.provider) return;
  const st = existingState(lab.state);
  await forEachLimit(Object.keys(st.hosts), 7, async (host) => {
    const rec = st.hosts[host]!;
    if (!rec.baseline && !rec.authorizedKeys) return; // nothing was changed on it
    const name = lab.state.name;
    const c = chainNames(lab.state.tag);
    let r: Session | undefined;
    try {
      // with your key, not the lab's: the lab key is one of the things taken back
      const hs = lab.state.hosts[host];
      r = await open(loginOf(lab.state.spec, host), { host: hs?.hostKey, jump: hs?.ssh?.jump?.hostKey });
      const s = r;
      const run = async (script: string, what: string) => must(s, host, script, what);
      if (rec.iface) await run(cableInScript(lab.state.tag, rec.iface), 'plugging the cable in');
      const svcs = (await run(labServicesScript(name), 'listing the lab services')).split('\n').filter(Boolean);
      // every service at once (each removal waits for its service to be down)
      if (svcs.length)
        await run(
          svcs
            .map(
              (sv) => `( ${removeScript(sv)}
) &`,
            )
            .join('\n') + '\nwait',
          'removing the services',
        );
      if (svcs.length) t.log(`${host}: removed the lab's services: ${svcs.join(', ')}`);
      const base = await localText(join(localDir(lab), `${host}.procs`));
      const now = await run(PROCS_SCRIPT, 'listing processes');
      const strays = addedProcesses(base, now).filter(
        (l) => !/s6-svscan|s6-supervise|s6-log/.test(l) || rec.s6 === 'ours',
      );
      const unit = `halab-${name}-s6`;
      const auth = rec.authorizedKeys;
      await run(
        [
          rec.s6 === 'ours'
            ? `if [ -d /run/systemd/system ]; then systemctl stop ${unit} 2>/dev/null; systemctl reset-failed ${unit} 2>/dev/null; fi; s6-svscanctl -t ${SCAN} 2>/dev/null; sleep 0.5`
            : 'true',
          strays.length ? `kill -9 ${strays.map((l) => l.split(' ')[0]).join(' ')} 2>/dev/null; sleep 0.2` : 'true',
          rec.nonlocalBind !== undefined ? `sysctl -qw net.ipv4.ip_nonlocal_bind=${shq(rec.nonlocalBind)}` : 'true',
          `iptables -X ${c.in} 2>/dev/null; iptables -X ${c.out} 2>/dev/null`,
          restoreRulesScript(name),
          restoreFilesScript(name),
          `rm -rf --one-file-system ${storeDir(name)}; rmdir /var/lib/halab-existing 2>/dev/null`,
          // last: the lab key (this connection stays open)
          auth
            ? auth.created
              ? `rm -f ${shq(auth.path)}${auth.dirCreated ? `; rmdir ${shq(auth.path.replace(/\/[^/]+$/, ''))} 2>/dev/null` : ''}`
              : `sed -i ${shq(`/${keyMarker(name).replace(/[/.]/g, '\\$&')}$/d`)} ${shq(auth.path)}`
            : 'true',
          'true',
        ].join('\n'),
        'restoring the machine',
      );
      t.log(`${host}: the lab's services, files and key removed; its own configuration restored`);
    } catch (err) {
      t.log(`${host}: could not clean up: ${(err as Error).message}`, { level: 'warn' });
    } finally {
      r?.close();
    }
  });
}

export async function labLeftovers(lab: LabContext, open: OpenSession): Promise<string[]> {
  if (!lab.state.provider) return [];
  const st = existingState(lab.state);
  const out: string[] = [];
  await forEachLimit(Object.keys(st.hosts), 7, async (host) => {
    const rec = st.hosts[host]!;
    if (!rec.baseline && !rec.authorizedKeys) return;
    const hs = lab.state.hosts[host];
    let s: Session;
    try {
      s = await open(loginOf(lab.state.spec, host), { host: hs?.hostKey, jump: hs?.ssh?.jump?.hostKey });
    } catch (err) {
      out.push(`${host}: cannot be checked (${(err as Error).message})`);
      return;
    }
    try {
      const c = chainNames(lab.state.tag);
      const r = await s.sh(
        [
          listScript(lab.state.name),
          'echo @@procs@@',
          PROCS_SCRIPT,
          'echo @@misc@@',
          `[ -e ${storeDir(lab.state.name)} ] && echo "${storeDir(lab.state.name)} is still there"`,
          rec.authorizedKeys
            ? `grep -qF ${shq(keyMarker(lab.state.name))} ${shq(rec.authorizedKeys.path)} 2>/dev/null && echo "the lab key is still authorised in ${rec.authorizedKeys.path}"`
            : 'true',
          `iptables -S ${c.in} >/dev/null 2>&1 && echo "packet filter ${c.in} is still there"`,
          `( ${addedRulesScript(lab.state.name)}
) | sed 's/^/packet filter rule: /'`,
          'true',
        ].join('\n'),
      );
      const [list = '', rest = ''] = r.stdout.split('@@procs@@\n');
      const [procs = '', misc = ''] = rest.split('@@misc@@\n');
      const base = (await localText(join(localDir(lab), `${host}.list`))).split('\n');
      for (const p of addedPaths(base, list.split('\n'))) out.push(`${host}: ${p}`);
      const baseProcs = await localText(join(localDir(lab), `${host}.procs`));
      for (const p of addedProcesses(baseProcs, procs)) out.push(`${host}: process ${p}`);
      for (const m of misc.split('\n').filter(Boolean)) out.push(`${host}: ${m}`);
    } finally {
      s.close();
    }
  });
  return out;
}
