// HAProxy and keepalived as supervised services (pure).
import type { ServiceDef } from '../../hosts/services.ts';
import { LB_PATHS } from './model.ts';

export function haproxyService(): ServiceDef {
  return {
    name: 'haproxy',
    // -db: foreground, no daemon (the service manager supervises); logs go to stdout (log stdout)
    command: ['/usr/sbin/haproxy', '-db', '-f', LB_PATHS.haproxyCfg],
    prepare: [`mkdir -p ${LB_PATHS.adminSocket.replace(/\/[^/]+$/, '')}`],
  };
}

export function keepalivedService(): ServiceDef {
  return {
    name: 'keepalived',
    // -n foreground, -l -D detailed log to the console (the service log), -G no syslog, -P VRRP
    // only. Its own pid files in the host's private /run: keepalived refuses to start ("already
    // running", exit 0) when its pid file names a live process, and on one machine every host
    // would otherwise share /run/keepalived.pid. Stale ones go first: the service manager
    // guarantees one instance, and a pid reused by another process would make it exit.
    command: [
      '/usr/sbin/keepalived',
      '-n',
      '-l',
      '-D',
      '-G',
      '-P',
      '-f',
      LB_PATHS.keepalivedConf,
      '-p',
      '/run/keepalived.pid',
      '-r',
      '/run/keepalived_vrrp.pid',
    ],
    prepare: [
      'rm -f /run/keepalived.pid /run/keepalived_vrrp.pid',
      `mkdir -p ${LB_PATHS.vrrpEventsLog.replace(/\/[^/]+$/, '')}`,
    ],
  };
}
