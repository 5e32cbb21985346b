// The load-balancer layer of a lab: HAProxy (API VIP:6443 -> the masters' kube-apiservers) and
// keepalived (VRRP, the VIP) on every host with role lb, as supervised services.
//   model.ts (the typed data), haproxy.ts / keepalived.ts (renderers), validate.ts (the tools'
//   own checks on the LB), services.ts, secret.ts, steps.ts (the four steps), status.ts (what
//   the LBs say now).
export { renderHaproxyCfg, HAPROXY_CONNECT_TIMEOUT_MS } from './haproxy.ts';
export { renderKeepalivedConf, renderNotifyScript } from './keepalived.ts';
export { lbModel, lbNodes, masterLb, vrrpSettings, virtualRouterId, LB_PATHS } from './model.ts';
export { breakConfig, TEST_BREAK_LINE, type LbOptions } from './options.ts';
export { haproxyService, keepalivedService } from './services.ts';
export { lbSteps } from './steps.ts';
export {
  haproxyBackends,
  haproxyViews,
  vipHolder,
  vipHolders,
  vrrpStates,
  waitBackendsUp,
  type BackendStatus,
  type VrrpStatus,
  type VrrpStateName,
} from './status.ts';
