// kubectl finds a lab the way it finds kind's and minikube's clusters: after `up`, the lab's admin
// credentials are merged into the user's default kubeconfig as one context `halab-<lab>` (a
// cluster, a user and a context of that name), made current unless asked not to; `down` removes
// exactly those three entries (and current-context when it pointed at them). Nothing else in the
// file is touched: the file is edited as a YAML document, so other entries keep their order,
// their comments and their formatting.
//
// Which file: client-go's rule (kubectl, kind, minikube): $KUBECONFIG's only file; of several, the
// first that exists, else the last; without $KUBECONFIG, ~/.kube/config.
//
// Writes are atomic (a temp file in the same directory, mode 0600, renamed over the file) and
// lock-free (no lock file that a crash could leave behind): the file is read, changed in memory,
// and the rename happens only if the file still holds what was read; otherwise the whole
// read-modify-write is done again on the new content; afterwards the file is read again to check
// that the change is there (another writer's rename may have landed on ours).
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, realpath, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { isMap, isScalar, isSeq, parseDocument, type Document, YAMLMap, YAMLSeq } from 'yaml';
import { HalabError } from '../errors.ts';
import { adminKubeconfig } from './kubectl.ts';

/** The name of a lab's context, cluster and user in the default kubeconfig: `halab-<lab>`. */
export function contextName(lab: string): string {
  return `halab-${lab}`;
}

/**
 * The kubeconfig file kubectl reads and writes by default (client-go's rule): with $KUBECONFIG
 * (a `:`-separated list) its only entry, else the first entry that exists, else the last one;
 * without it `~/.kube/config`. Empty entries are ignored.
 */
export function defaultKubeconfigPath(env: NodeJS.ProcessEnv = process.env): string {
  const list = (env.KUBECONFIG ?? '').split(':').filter(Boolean);
  if (list.length === 1) return list[0]!;
  if (list.length > 1) return list.find((p) => existsSync(p)) ?? list[list.length - 1]!;
  return join(env.HOME || homedir(), '.kube', 'config');
}

/** The three entries a lab contributes, as plain objects in kubeconfig's shape. */
export interface LabEntries {
  cluster: { name: string; cluster: Record<string, unknown> };
  user: { name: string; user: Record<string, unknown> };
  context: { name: string; context: Record<string, unknown> };
}

const KINDS = [
  ['clusters', 'cluster'],
  ['users', 'user'],
  ['contexts', 'context'],
] as const;

/**
 * Read a lab's admin kubeconfig (text) and rename its current context's cluster, user and context
 * to `name`. Errors: HalabError KUBECONFIG_SOURCE when the text has no current context or lacks
 * the cluster or user it names.
 */
export function labEntries(adminText: string, name: string): LabEntries {
  const src = parseDocument(adminText).toJS() as {
    'current-context'?: string;
    clusters?: { name: string; cluster: Record<string, unknown> }[];
    users?: { name: string; user: Record<string, unknown> }[];
    contexts?: { name: string; context: { cluster: string; user: string } & Record<string, unknown> }[];
  } | null;
  const ctx = src?.contexts?.find((c) => c.name === src['current-context']) ?? src?.contexts?.[0];
  const cluster = ctx && src?.clusters?.find((c) => c.name === ctx.context.cluster);
  const user = ctx && src?.users?.find((u) => u.name === ctx.context.user);
  if (!ctx || !cluster || !user) {
    throw new HalabError('KUBECONFIG_SOURCE', "the lab's admin kubeconfig has no usable context", {
      fix: 'run `halab up` again to regenerate it',
    });
  }
  return {
    cluster: { name, cluster: cluster.cluster },
    user: { name, user: user.user },
    context: { name, context: { ...ctx.context, cluster: name, user: name } },
  };
}

function parseKubeconfig(text: string, path: string): Document {
  const doc = parseDocument(text);
  const contents = doc.contents;
  if (doc.errors.length || (contents !== null && !isMap(contents))) {
    throw new HalabError('KUBECONFIG_INVALID', `${path} is not a valid kubeconfig (YAML mapping)`, {
      details: doc.errors.map((e) => e.message).join('\n') || undefined,
      fix: `fix or move ${path}, or point KUBECONFIG at another file, then run \`halab up\` again (nothing was changed)`,
    });
  }
  for (const [key] of KINDS) {
    const v = doc.get(key, true);
    if (v !== undefined && !isSeq(v) && !(isScalar(v) && v.value === null)) {
      throw new HalabError('KUBECONFIG_INVALID', `${path}: "${key}" is not a list`, {
        fix: `fix ${path} (kubectl config view shows what kubectl makes of it); nothing was changed`,
      });
    }
  }
  return doc;
}

function namedIndex(seq: YAMLSeq, name: string): number {
  return seq.items.findIndex((it) => isMap(it) && it.get('name') === name);
}

/** The list under `key`, created (empty) when the key is missing or null. */
function seqOf(doc: Document, key: string): YAMLSeq {
  const v = doc.get(key, true);
  if (isSeq(v)) return v;
  const seq = new YAMLSeq();
  doc.set(key, seq);
  return seq;
}

/**
 * Put a lab's entries into kubeconfig text (empty text: a new kubeconfig), replacing entries of
 * the same names in place and leaving every other entry as it was; make the context current when
 * `makeCurrent`. Returns the new text (identical to `text` when nothing changes).
 * Errors: HalabError KUBECONFIG_INVALID when `text` is not a kubeconfig.
 */
export function mergeEntries(text: string, entries: LabEntries, makeCurrent: boolean, path = 'kubeconfig'): string {
  const doc = text.trim()
    ? parseKubeconfig(text, path)
    : parseDocument('apiVersion: v1\nkind: Config\npreferences: {}\nclusters: []\nusers: []\ncontexts: []\n');
  if (!isMap(doc.contents)) doc.contents = new YAMLMap() as typeof doc.contents;
  let changed = !text.trim();
  for (const [key, value] of [
    ['apiVersion', 'v1'],
    ['kind', 'Config'],
  ] as const) {
    if (!doc.has(key)) {
      doc.set(key, value);
      changed = true;
    }
  }
  for (const [key, one] of KINDS) {
    const entry = entries[one];
    const seq = seqOf(doc, key);
    const i = namedIndex(seq, entry.name);
    // an empty list (`clusters: []`, as down leaves it) takes block style again, as kubectl writes it
    if (seq.items.length === 0) seq.flow = false;
    if (i < 0) seq.items.push(doc.createNode(entry));
    else if (JSON.stringify((seq.items[i] as YAMLMap).toJSON()) !== JSON.stringify(entry))
      seq.items[i] = doc.createNode(entry);
    else continue;
    changed = true;
  }
  if (makeCurrent && doc.get('current-context') !== entries.context.name) {
    doc.set('current-context', entries.context.name);
    changed = true;
  }
  return changed ? doc.toString({ lineWidth: 0 }) : text;
}

/**
 * Remove the cluster, user and context named `name` from kubeconfig text, and current-context
 * when it names that context. Every other entry stays as it was. Returns the new text (identical
 * to `text` when there was nothing to remove) and whether current-context was cleared.
 * Errors: HalabError KUBECONFIG_INVALID when `text` is not a kubeconfig.
 */
export function removeEntries(text: string, name: string, path = 'kubeconfig'): { text: string; wasCurrent: boolean } {
  if (!text.trim()) return { text, wasCurrent: false };
  const doc = parseKubeconfig(text, path);
  let changed = false;
  for (const [key] of KINDS) {
    const seq = doc.get(key, true);
    if (!isSeq(seq)) continue;
    const i = namedIndex(seq, name);
    if (i >= 0) {
      seq.items.splice(i, 1);
      changed = true;
    }
  }
  const wasCurrent = doc.get('current-context') === name;
  if (wasCurrent) {
    doc.delete('current-context');
    changed = true;
  }
  return { text: changed ? doc.toString({ lineWidth: 0 }) : text, wasCurrent };
}

async function readOrEmpty(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw new HalabError('KUBECONFIG_UNREADABLE', `cannot read ${path}: ${(err as Error).message}`, {
      fix: `check the file's permissions, or point KUBECONFIG at another file`,
    });
  }
}

/** Updates of one file by this process, one after another (the service may finish two `up`s at once). */
const queues = new Map<string, Promise<unknown>>();

/**
 * Read-modify-write `path` without a lock file: `change` gets the current text (empty when the
 * file does not exist) and returns the new one (the same string: nothing to do); it must be
 * idempotent (it is called again on its own result to check that the change is in place). The new text is
 * written to a temp file in the same directory (mode 0600) and renamed over `path` only if `path`
 * still holds what was read; after the rename the file is read once more and, if another writer's
 * rename replaced ours in between, the whole cycle runs again on their content (up to 10 times).
 * Calls of this process on the same file run one after another. A symlinked `path` is written
 * through to its target. Returns whether the file changed.
 * Errors: KUBECONFIG_BUSY (changed under us 10 times), KUBECONFIG_UNREADABLE, whatever `change` throws.
 */
export async function updateFile(path: string, change: (text: string) => string): Promise<boolean> {
  const target = existsSync(path) ? await realpath(path) : path;
  const prev = queues.get(target) ?? Promise.resolve();
  const mine = prev.catch(() => undefined).then(() => updateOnce(path, target, change));
  queues.set(target, mine);
  try {
    return await mine;
  } finally {
    if (queues.get(target) === mine) queues.delete(target);
  }
}

async function updateOnce(path: string, target: string, change: (text: string) => string): Promise<boolean> {
  await mkdir(dirname(target), { recursive: true, mode: 0o700 });
  let changed = false;
  for (let attempt = 0; attempt < 10; attempt++) {
    const before = await readOrEmpty(target);
    const after = change(before);
    if (after === before) return changed;
    const tmp = join(dirname(target), `.${basename(target)}.halab-${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
      await writeFile(tmp, after, { mode: 0o600, flag: 'wx' });
      if ((await readOrEmpty(target)) !== before) continue; // someone else wrote it: start again from theirs
      await rename(tmp, target);
      changed = true;
    } finally {
      await rm(tmp, { force: true });
    }
    // the next round checks that our change is there (change() returns the text as it is) and
    // redoes it on top of a writer that renamed over ours between our check and our rename
  }
  throw new HalabError('KUBECONFIG_BUSY', `${path} kept changing while HA Lab was updating it`, {
    fix: 'run the command again once nothing else is writing the kubeconfig',
  });
}

export interface MergeResult {
  /** The kubeconfig file that was updated. */
  path: string;
  /** The context's name, `halab-<lab>`. */
  context: string;
  /** The context is now current-context. */
  current: boolean;
  /** The file was changed (false: it already held exactly these entries). */
  changed: boolean;
}

/**
 * Merge lab `lab`'s admin kubeconfig (the file `adminConf`) into the default kubeconfig (or
 * `o.path`) as context `halab-<lab>`, and make it current unless `o.switchContext` is false.
 * Idempotent. Errors: HalabError NO_KUBECONFIG (no admin kubeconfig yet), KUBECONFIG_SOURCE,
 * KUBECONFIG_INVALID (the target is not a kubeconfig: nothing is written), KUBECONFIG_UNREADABLE,
 * KUBECONFIG_BUSY.
 */
export async function mergeLabContext(
  lab: string,
  adminConf: string,
  o: { path?: string; switchContext?: boolean } = {},
): Promise<MergeResult> {
  const path = o.path ?? defaultKubeconfigPath();
  const name = contextName(lab);
  const admin = await readFile(adminConf, 'utf8').catch(() => {
    throw new HalabError('NO_KUBECONFIG', `lab ${lab} has no admin kubeconfig yet (${adminConf})`, {
      fix: 'run `halab up` to finish the lab',
    });
  });
  const entries = labEntries(admin, name);
  const current = o.switchContext !== false;
  const changed = await updateFile(path, (text) => mergeEntries(text, entries, current, path));
  return { path, context: name, current, changed };
}

/**
 * After a successful `up`: merge the admin kubeconfig of the lab in `labDir` as context
 * `halab-<lab>` (see mergeLabContext). Returns undefined when the lab has no admin kubeconfig
 * (a hosts-only lab). Errors: as mergeLabContext's, except NO_KUBECONFIG.
 */
export async function addLabContext(
  lab: string,
  labDir: string,
  o: { path?: string; switchContext?: boolean } = {},
): Promise<MergeResult | undefined> {
  const admin = adminKubeconfig(labDir);
  if (!existsSync(admin)) return undefined;
  return mergeLabContext(lab, admin, o);
}

/**
 * Remove lab `lab`'s context, cluster and user (`halab-<lab>`) from the default kubeconfig (or
 * `o.path`), and current-context when it was that context; a missing file or entry is not an
 * error. Errors: KUBECONFIG_INVALID (nothing is written), KUBECONFIG_UNREADABLE, KUBECONFIG_BUSY.
 */
export async function removeLabContext(
  lab: string,
  o: { path?: string } = {},
): Promise<{ path: string; context: string; removed: boolean; wasCurrent: boolean }> {
  const path = o.path ?? defaultKubeconfigPath();
  const name = contextName(lab);
  if (!existsSync(path)) return { path, context: name, removed: false, wasCurrent: false };
  let wasCurrent = false;
  const removed = await updateFile(path, (text) => {
    const r = removeEntries(text, name, path);
    wasCurrent ||= r.wasCurrent;
    return r.text;
  });
  return { path, context: name, removed, wasCurrent };
}
