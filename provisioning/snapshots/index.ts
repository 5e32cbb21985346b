// etcd snapshots: save, verify, list, schedule. See script.ts for what "good" means.
export * from './script.ts';
export * from './snapshots.ts';
