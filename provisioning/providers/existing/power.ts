// Power actions a remote machine cannot do, replaced: `off` kills every lab service at once
// (SIGKILL, no restart), takes the VIP off and pulls the cable; `on` plugs it in and starts the
// services that were up. The cable is the lab interface: taken down when this machine's SSH
// reaches the machine another way, otherwise a packet filter drops everything on it but this
// machine's SSH session (so that `on` can still come in). freeze/thaw: SIGSTOP/SIGCONT of the
// lab's processes.
import type { LabContext } from '../../engine/context.ts';
import { HalabError } from '../../errors.ts';
import { shq } from '../../exec/types.ts';
import type { PowerAction } from '../types.ts';
import { labServicesScript } from './footprint.ts';
import { existingHost } from './state.ts';

const SCAN = '/run/halab/service';

/** The packet filter's chains (iptables: at most 28 characters). */
export function chainNames(tag: string): { in: string; out: string } {
  return { in: `HALAB-${tag}-I`.slice(0, 28), out: `HALAB-${tag}-O`.slice(0, 28) };
}

/** Shell that pulls the cable: link down, or the filter that spares the SSH session (pure). */
export function cableOutScript(tag: string, iface: string): string {
  const c = chainNames(tag);
  const i = shq(iface);
  return [
    'set -- $SSH_CONNECTION; client=$1; sport=$4; server=$3',
    `if ip -o -4 addr show dev ${i} | grep -q " $server/"; then`,
    `  iptables -N ${c.in} 2>/dev/null || iptables -F ${c.in}`,
    `  iptables -N ${c.out} 2>/dev/null || iptables -F ${c.out}`,
    `  iptables -A ${c.in} -p tcp -s "$client" --dport "$sport" -j RETURN`,
    `  iptables -A ${c.in} -j DROP`,
    `  iptables -A ${c.out} -p tcp -d "$client" --sport "$sport" -j RETURN`,
    `  iptables -A ${c.out} -j DROP`,
    `  iptables -C INPUT -i ${i} -j ${c.in} 2>/dev/null || iptables -I INPUT -i ${i} -j ${c.in}`,
    `  iptables -C OUTPUT -o ${i} -j ${c.out} 2>/dev/null || iptables -I OUTPUT -o ${i} -j ${c.out}`,
    '  echo cable=filter',
    'else',
    `  ip link set ${i} down`,
    '  echo cable=link',
    'fi',
  ].join('\n');
}

/** Shell that plugs the cable in again (both ways, whichever was used; idempotent) (pure). */
export function cableInScript(tag: string, iface: string): string {
  const c = chainNames(tag);
  const i = shq(iface);
  return [
    `while iptables -D INPUT -i ${i} -j ${c.in} 2>/dev/null; do :; done`,
    `while iptables -D OUTPUT -o ${i} -j ${c.out} 2>/dev/null; do :; done`,
    `iptables -F ${c.in} 2>/dev/null; iptables -X ${c.in} 2>/dev/null`,
    `iptables -F ${c.out} 2>/dev/null; iptables -X ${c.out} 2>/dev/null`,
    `ip link set ${i} up`,
    'true',
  ].join('\n');
}

/** Shell that lists the pids of the lab's services and all their descendants (pure). */
export function labPidsScript(lab: string): string {
  return [
    `roots=$(for s in $(${labServicesScript(lab)}); do s6-svstat -o pid ${SCAN}/$s 2>/dev/null; done | awk '$1>0')`,
    '[ -n "$roots" ] || exit 0',
    // every descendant of those pids, from one ps snapshot
    `ps -e -o pid=,ppid= | awk -v r="$roots" 'BEGIN{n=split(r,a," "); for(i=1;i<=n;i++) keep[a[i]]=1} {p[$1]=$2} END{do{c=0; for(x in p) if(!(x in keep) && (p[x] in keep)){keep[x]=1;c=1}}while(c); for(x in keep) print x}'`,
  ].join('\n');
}

export async function power(lab: LabContext, host: string, action: PowerAction): Promise<void> {
  const rec = existingHost(lab.state, host);
  const iface = rec.iface;
  if (!iface) {
    throw new HalabError('NOT_PREPARED', `${host} was not prepared by this lab yet`, { fix: 'run `halab up` first' });
  }
  const r = lab.remote(host);
  const vip = lab.state.spec.vip;
  const tag = lab.state.tag;
  switch (action) {
    case 'off': {
      if (!rec.on) return;
      // every service at once, SIGKILL, told not to restart; the VIP goes with the "power"
      const out = await r.exec(
        [
          `up=""; for s in $(${labServicesScript(lab.state.name)}); do`,
          `  if [ "$(s6-svstat -o up ${SCAN}/$s 2>/dev/null)" = true ]; then up="$up $s"; fi`,
          'done',
          `for s in $up; do s6-svc -o -k ${SCAN}/$s & done; wait`,
          `pids=$(${labPidsScript(lab.state.name).replace(/\n/g, '; ')}); [ -n "$pids" ] && kill -9 $pids 2>/dev/null`,
          `ip addr del ${shq(`${vip}/32`)} dev ${shq(iface)} 2>/dev/null`,
          'echo "up=$up"',
          // the cable in the same breath (a power cut takes both at once)
          rec.plugged ? cableOutScript(tag, iface) : 'true',
        ].join('\n'),
      );
      rec.downed = (/^up=(.*)$/m.exec(out.stdout)?.[1] ?? '').split(/\s+/).filter(Boolean);
      if (rec.plugged) rec.cable = /cable=link/.test(out.stdout) ? 'link' : 'filter';
      rec.on = false;
      rec.frozen = false;
      await lab.save();
      return;
    }
    case 'on': {
      if (rec.on) return;
      await r.exec(cableInScript(tag, iface));
      rec.plugged = true;
      if (rec.downed.length) await r.exec(rec.downed.map((s) => `s6-svc -u ${SCAN}/${shq(s)}`).join('\n'));
      rec.downed = [];
      rec.on = true;
      await lab.save();
      return;
    }
    case 'freeze':
    case 'thaw': {
      const sig = action === 'freeze' ? 'STOP' : 'CONT';
      await r.exec(
        `pids=$(${labPidsScript(lab.state.name).replace(/\n/g, '; ')}); [ -n "$pids" ] && kill -${sig} $pids; true`,
      );
      rec.frozen = action === 'freeze';
      await lab.save();
      return;
    }
    case 'link-down': {
      if (!rec.plugged) return;
      const c = await r.exec(cableOutScript(tag, iface));
      rec.cable = /cable=link/.test(c.stdout) ? 'link' : 'filter';
      rec.plugged = false;
      await lab.save();
      return;
    }
    case 'link-up': {
      await r.exec(cableInScript(tag, iface));
      rec.plugged = true;
      await lab.save();
      return;
    }
  }
}
