// The service manager of a lab host, as the steps, drills and status see it. One implementation
// per kind of init: s6 on the netns provider's hosts (supervisor.ts); a VM image with systemd, or
// kubeadm's kubelet unit, can implement the same calls.
import type { ServiceStatus } from '../api/types.ts';

export interface ServiceDef {
  /** A plain word ([a-z0-9-]): the service's name on the host (etcd, haproxy, kubelet...). */
  name: string;
  /** argv of the daemon, run in the foreground (stderr folded into the service's log). */
  command: string[];
  /** Shell lines run before the daemon starts (mkdir, chmod...). */
  prepare?: string[];
  env?: Record<string, string>;
  /** Create the service but keep it down until started. */
  down?: boolean;
}

/** A file on a host: absolute path, full content, mode (e.g. 0o600). */
export interface FileSpec {
  path: string;
  content: string | Buffer;
  mode: number;
}

/**
 * What `ensure` did: installed (new), updated (its definition or an input changed: rewritten and
 * restarted), started (current but was down), unchanged (current and up, or current and meant down).
 */
export type EnsureResult = 'installed' | 'updated' | 'started' | 'unchanged';

/** What `check` sees, without changing anything. */
export interface ServiceCheck {
  /** absent: not installed; changed: installed, but its definition or inputs differ; current. */
  state: 'absent' | 'changed' | 'current';
  up: boolean;
  /** The manager wants it up (false after a stop, or for a service defined down). */
  wantedUp: boolean;
  pid?: number;
}

export type ServiceAction = 'start' | 'stop' | 'kill' | 'restart';

export interface ServiceManager {
  /**
   * Make the service run `def` with `inputs` (config files it reads): writes what differs
   * (inputs first, atomically), restarts a running service whose definition or inputs changed,
   * starts one that is down (unless def.down). Idempotent: a second call returns 'unchanged'.
   */
  ensure(def: ServiceDef, inputs?: FileSpec[]): Promise<EnsureResult>;
  /** Compare what the host runs with `def` and `inputs`; changes nothing. */
  check(def: ServiceDef, inputs?: FileSpec[]): Promise<ServiceCheck>;
  /** Stop the service and delete its definition; a service that is not there is fine. */
  remove(name: string): Promise<void>;
  /** Start it and keep it up (the manager restarts it when it exits). */
  start(name: string): Promise<void>;
  /** Stop it (SIGTERM), keep it down, and wait until its process is gone (ms). */
  stop(name: string, waitMs?: number): Promise<void>;
  /** SIGKILL it and keep it down (a crash that is not restarted), waiting until it is gone. */
  kill(name: string, waitMs?: number): Promise<void>;
  /** Restart it now (stop + start). */
  restart(name: string): Promise<void>;
  /** Stop restarting it: the running process is left alone, but once it exits it stays down. */
  once(name: string): Promise<void>;
  /** Send a signal; the manager restarts the service if it exits and is wanted up. */
  signal(name: string, sig: 'KILL' | 'TERM' | 'STOP' | 'CONT' | 'HUP'): Promise<void>;
  /** Wait until the manager reports it up (the process exists; readiness is the caller's job), ms. */
  waitUp(name: string, timeoutMs?: number): Promise<void>;
  /** Every service on the host: up, pid, uptime, restarts. */
  status(): Promise<ServiceStatus[]>;
  /**
   * The shell line a user would type for `action` on one or more services at once (shown in
   * walkthroughs; runs as root on the host; stop/kill return once every one is down, waiting at
   * most waitMs).
   */
  command(name: string | string[], action: ServiceAction, waitMs?: number): string;
  /** Where the service's log is on the host. */
  logPath(name: string): string;
  /**
   * A script the host runs at every boot, before any service starts (in name order), e.g. to
   * make a freshly booted host fit for containers. Written when it differs; returns whether it
   * was. Its output goes to the log named bootLogPath().
   */
  ensureBootTask(name: string, script: string): Promise<boolean>;
  /** Where the boot tasks' output goes. */
  bootLogPath(): string;
}
