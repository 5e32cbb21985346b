// Input validation of every LabApi call, at the boundary (Electron IPC and the WebSocket bridge
// share these): a call whose arguments do not have the right shape is refused with an ErrorInfo
// (code BAD_INPUT) before it reaches the engine. Values the user types into the wizard are NOT
// judged here (a bad subnet is a SpecIssue for the live validation, not a malformed call): only
// types, sizes, and names: those that become paths (lab and host names) and drill names.
import { z } from 'zod';
import type { ErrorInfo } from '../api/types.ts';
import { DrillName } from '../api/drills.ts';
import { LAB_API_METHODS, type LabApiMethod } from '../api/lab-api.ts';
import { HalabError } from '../errors.ts';

/** Lab names are DNS labels of at most 20 characters (they become directory names). */
export const LabName = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9-]{0,18}[a-z0-9])?$/, 'not a lab name (a DNS label of at most 20 characters)');
/** Host names: DNS labels. */
export const HostName = z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'not a host name (a DNS label)');
/** A component's name on a host (etcd, kube-apiserver, haproxy...): a plain word. */
export const ComponentName = z.string().regex(/^[a-z][a-z0-9-]{0,40}$/, 'not a component name');
/** A snapshot as listed: MASTER:/path/snap-YYYYMMDDTHHMMSSZ.db (or its file name alone). */
export const SnapshotRef = z
  .string()
  .max(300)
  .regex(
    /^([a-z0-9][a-z0-9-]{0,62}:)?[A-Za-z0-9_./-]*snap-\d{8}T\d{6}Z\.db$/,
    'not a snapshot (MASTER:PATH as listed)',
  );
/** Run ids, terminal ids: short opaque tokens. */
export const Id = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'not an id');

const finite = z.number().finite();
const count = z.number().int().min(0).max(10_000);

export const TimersInput = z
  .strictObject({
    vrrpAdvertInt: finite,
    haproxyCheckInterMs: finite,
    haproxyCheckFall: finite,
    haproxyCheckRise: finite,
    etcdHeartbeatMs: finite,
    etcdElectionMs: finite,
    leaseDurationS: finite,
    renewDeadlineS: finite,
    retryPeriodS: finite,
    nodeStatusUpdateFrequencyS: finite,
    nodeMonitorGracePeriodS: finite,
    podEvictionTolerationS: finite,
  })
  .partial();

export const SnapshotsInput = z.strictObject({ intervalS: finite, retain: finite }).partial();

export const WizardInputSchema = z.strictObject({
  name: z.string().max(100),
  subnet: z.string().max(100),
  lbs: count,
  masters: count,
  workers: count,
  apiserverEtcd: z.enum(['all', 'local']).optional(),
  bootstrap: z.enum(['kubeadm', 'fast']).optional(),
  timers: TimersInput.optional(),
  snapshots: SnapshotsInput.optional(),
});

/** A full spec object: its content is the spec validator's business; here only "an object, not huge". */
export const SpecObjectInput = z.strictObject({
  spec: z.record(z.string(), z.unknown()).refine((o) => JSON.stringify(o).length <= 256 * 1024, 'spec too large'),
});

export const SpecInput = z.union([WizardInputSchema, SpecObjectInput]);

const cols = z.number().int().min(2).max(1000);
const rows = z.number().int().min(2).max(1000);

/** Each method's arguments, as a tuple (as many as LAB_API_METHODS says: schemas.test.ts checks). */
export const ARGS = {
  listLabs: z.tuple([]),
  checkSpec: z.tuple([SpecInput]),
  up: z.tuple([SpecInput]),
  resume: z.tuple([LabName]),
  cancel: z.tuple([Id]),
  down: z.tuple([LabName]),
  status: z.tuple([LabName]),
  doctor: z.tuple([]),
  providers: z.tuple([]),
  drills: z.tuple([]),
  runDrill: z.union([
    z.tuple([LabName, DrillName]),
    z.tuple([LabName, DrillName, z.strictObject({ stepwise: z.boolean().optional() })]),
  ]),
  drillContinue: z.tuple([Id]),
  reports: z.tuple([LabName]),
  report: z.tuple([LabName, Id]),
  snapshots: z.tuple([LabName]),
  takeSnapshot: z.tuple([LabName]),
  restoreSnapshot: z.union([
    z.tuple([LabName, SnapshotRef]),
    z.tuple([LabName, SnapshotRef, z.strictObject({ stepwise: z.boolean().optional() })]),
  ]),
  fault: z.tuple([LabName, HostName, z.enum(['power-off', 'power-on', 'freeze', 'thaw', 'unplug', 'plug'])]),
  service: z.tuple([LabName, HostName, ComponentName, z.enum(['stop', 'start', 'kill'])]),
  heal: z.tuple([LabName]),
  startWatch: z.tuple([LabName]),
  stopWatch: z.tuple([Id]),
  stop: z.tuple([LabName]),
  openTerminal: z.tuple([LabName, HostName, cols, rows]),
  terminalInput: z.tuple([Id, z.string().max(64 * 1024)]),
  resizeTerminal: z.tuple([Id, cols, rows]),
  closeTerminal: z.tuple([Id]),
} satisfies Record<LabApiMethod, z.ZodType>;

export const METHODS = Object.keys(LAB_API_METHODS) as LabApiMethod[];

/** A name of LAB_API_METHODS (not an inherited property such as "constructor"). */
export function isMethod(m: unknown): m is LabApiMethod {
  return typeof m === 'string' && Object.hasOwn(LAB_API_METHODS, m);
}

/** One line per problem: "args[0].lbs: expected number". */
function describe(err: z.ZodError): string {
  return err.issues
    .slice(0, 5)
    .map((i) => {
      const path = i.path.length
        ? `args${i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('')}`
        : 'args';
      return `${path}: ${i.message}`;
    })
    .join('; ');
}

/** Check a call: a known method, an array of arguments of the right shape. Throws HalabError BAD_INPUT. */
export function validateCall(method: unknown, args: unknown): { method: LabApiMethod; args: unknown[] } {
  if (!isMethod(method)) {
    throw new HalabError('BAD_INPUT', `unknown method ${JSON.stringify(String(method)).slice(0, 60)}`, {
      fix: `methods: ${METHODS.join(', ')}`,
    });
  }
  if (!Array.isArray(args)) throw new HalabError('BAD_INPUT', `${method}: the arguments must be an array`);
  const r = ARGS[method].safeParse(args);
  if (!r.success)
    throw new HalabError('BAD_INPUT', `${method}: malformed call: ${describe(r.error)}`, {
      fix: 'this is a bug in the caller: the call does not match the LabApi contract',
    });
  return { method, args: r.data as unknown[] };
}

/** The boundary shape of a refused call. */
export function badInput(message: string): ErrorInfo {
  return { code: 'BAD_INPUT', message };
}
