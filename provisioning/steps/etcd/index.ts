// etcd: one member per master with mutual TLS, data on disk A (render.ts: the service;
// members.ts: the steps; etcdctl.ts: health, status, the client commands).
export { etcdHealthy, etcdMembers, etcdMembersConverged, installEtcdMembers } from './members.ts';
export * from './render.ts';
export * from './etcdctl.ts';
