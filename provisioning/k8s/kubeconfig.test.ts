import { mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  contextName,
  defaultKubeconfigPath,
  labEntries,
  mergeEntries,
  mergeLabContext,
  removeEntries,
  removeLabContext,
  updateFile,
} from './kubeconfig.ts';

// what kubeadm writes as admin.conf (certificates shortened)
const ADMIN = `apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: Q0EK
    server: https://10.213.0.10:6443
  name: kubernetes
contexts:
- context:
    cluster: kubernetes
    user: kubernetes-admin
  name: kubernetes-admin@kubernetes
current-context: kubernetes-admin@kubernetes
kind: Config
preferences: {}
users:
- name: kubernetes-admin
  user:
    client-certificate-data: Q0VSVAo=
    client-key-data: S0VZCg==
`;

// someone's existing kubeconfig, with a comment and a kind cluster that must stay as they are
const OTHER = `# my clusters
apiVersion: v1
kind: Config
clusters:
  - name: kind-dev
    cluster:
      server: https://127.0.0.1:40000
      certificate-authority-data: S0lORA==
contexts:
  - name: kind-dev
    context: { cluster: kind-dev, user: kind-dev, namespace: apps }
users:
  - name: kind-dev
    user: { token: abc }
current-context: kind-dev
preferences: {}
`;

type Kc = {
  'current-context'?: string;
  clusters: { name: string; cluster: Record<string, unknown> }[];
  users: { name: string; user: Record<string, unknown> }[];
  contexts: { name: string; context: Record<string, unknown> }[];
};
const read = (p: string) => parse(readFileSync(p, 'utf8')) as Kc;
const names = (k: Kc) => ({
  clusters: k.clusters.map((c) => c.name),
  users: k.users.map((u) => u.name),
  contexts: k.contexts.map((c) => c.name),
});

let dir = '';
let admin = '';
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'halab-kc-'));
  admin = join(dir, 'admin.conf');
  writeFileSync(admin, ADMIN);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('defaultKubeconfigPath (client-go rule)', () => {
  it('is ~/.kube/config without KUBECONFIG', () => {
    expect(defaultKubeconfigPath({ HOME: '/home/ann' })).toBe('/home/ann/.kube/config');
    expect(defaultKubeconfigPath({ HOME: '/home/ann', KUBECONFIG: '' })).toBe('/home/ann/.kube/config');
  });
  it("is KUBECONFIG's only file, else the first that exists, else the last", () => {
    const a = join(dir, 'a'),
      b = join(dir, 'b'),
      c = join(dir, 'c');
    expect(defaultKubeconfigPath({ KUBECONFIG: a })).toBe(a);
    expect(defaultKubeconfigPath({ KUBECONFIG: `${a}:${b}:${c}` })).toBe(c);
    writeFileSync(b, '');
    expect(defaultKubeconfigPath({ KUBECONFIG: `${a}::${b}:${c}` })).toBe(b);
  });
});

describe('labEntries', () => {
  it("renames the admin context's cluster, user and context to halab-<lab>", () => {
    const e = labEntries(ADMIN, contextName('lab2'));
    expect(e.cluster).toEqual({
      name: 'halab-lab2',
      cluster: { 'certificate-authority-data': 'Q0EK', server: 'https://10.213.0.10:6443' },
    });
    expect(e.user.name).toBe('halab-lab2');
    expect(e.user.user['client-key-data']).toBe('S0VZCg==');
    expect(e.context).toEqual({ name: 'halab-lab2', context: { cluster: 'halab-lab2', user: 'halab-lab2' } });
  });
  it('refuses a file without a usable context', () => {
    expect(() => labEntries('apiVersion: v1\nkind: Config\n', 'x')).toThrow(/no usable context/);
  });
});

describe('mergeEntries / removeEntries', () => {
  const entries = labEntries(ADMIN, 'halab-lab2');
  it('adds the entries next to the others, which keep their text and comments', () => {
    const out = mergeEntries(OTHER, entries, true);
    expect(out).toContain('# my clusters');
    expect(out).toContain('context: { cluster: kind-dev, user: kind-dev, namespace: apps }');
    const k = parse(out) as Kc;
    expect(names(k)).toEqual({
      clusters: ['kind-dev', 'halab-lab2'],
      users: ['kind-dev', 'halab-lab2'],
      contexts: ['kind-dev', 'halab-lab2'],
    });
    expect(k['current-context']).toBe('halab-lab2');
  });
  it('leaves current-context alone when not switching', () => {
    expect((parse(mergeEntries(OTHER, entries, false)) as Kc)['current-context']).toBe('kind-dev');
  });
  it('is idempotent: a second merge returns the text unchanged', () => {
    const once = mergeEntries(OTHER, entries, true);
    expect(mergeEntries(once, entries, true)).toBe(once);
  });
  it('replaces stale entries of the same name in place (a re-created lab has a new CA)', () => {
    const once = mergeEntries(OTHER, entries, false);
    const fresh = labEntries(ADMIN.replace('Q0EK', 'TkVXCg=='), 'halab-lab2');
    const k = parse(mergeEntries(once, fresh, false)) as Kc;
    expect(k.clusters).toHaveLength(2);
    expect(k.clusters[1]!.cluster['certificate-authority-data']).toBe('TkVXCg==');
  });
  it('starts a new kubeconfig from nothing', () => {
    const k = parse(mergeEntries('', entries, true)) as Kc & { apiVersion: string; kind: string };
    expect(k.apiVersion).toBe('v1');
    expect(k.kind).toBe('Config');
    expect(names(k).contexts).toEqual(['halab-lab2']);
  });
  it('writes entries in block style into empty lists, as kubectl does (a file down emptied)', () => {
    const emptied = removeEntries(mergeEntries('', entries, true), 'halab-lab2').text;
    expect(emptied).toMatch(/^clusters: \[\]$/m);
    const out = mergeEntries(emptied, entries, true);
    expect(out).toMatch(/^clusters:\n {2}- name: halab-lab2$/m);
    expect(out).not.toContain('[ {');
  });
  it('treats null lists as empty', () => {
    const k = parse(mergeEntries('apiVersion: v1\nkind: Config\nclusters:\nusers: null\n', entries, true)) as Kc;
    expect(names(k).users).toEqual(['halab-lab2']);
  });
  it('removes exactly its three entries, and current-context when it was current', () => {
    const merged = mergeEntries(OTHER, entries, true);
    const r = removeEntries(merged, 'halab-lab2');
    expect(r.wasCurrent).toBe(true);
    const k = parse(r.text) as Kc;
    expect(names(k)).toEqual({ clusters: ['kind-dev'], users: ['kind-dev'], contexts: ['kind-dev'] });
    expect(k['current-context']).toBeUndefined();
    expect(r.text).toContain('context: { cluster: kind-dev, user: kind-dev, namespace: apps }');
  });
  it('keeps another current-context on removal, and returns the text unchanged when nothing is there', () => {
    const r = removeEntries(mergeEntries(OTHER, entries, false), 'halab-lab2');
    expect(r.wasCurrent).toBe(false);
    expect((parse(r.text) as Kc)['current-context']).toBe('kind-dev');
    expect(removeEntries(OTHER, 'halab-lab2')).toEqual({ text: OTHER, wasCurrent: false });
  });
  it('refuses a file that is not a kubeconfig', () => {
    expect(() => mergeEntries('- a\n- b\n', entries, true, '/x/config')).toThrow(
      /\/x\/config is not a valid kubeconfig/,
    );
    expect(() => mergeEntries('clusters: 3\n', entries, true)).toThrow(/"clusters" is not a list/);
    expect(() => mergeEntries('a: [\n', entries, true)).toThrow(/not a valid kubeconfig/);
  });
});

describe('mergeLabContext / removeLabContext on files', () => {
  it('merges into an existing file (mode 0600), then removes, leaving the other context as it was', async () => {
    const path = join(dir, 'kube', 'config');
    await updateFile(path, () => OTHER);
    const m = await mergeLabContext('lab2', admin, { path });
    expect(m).toEqual({ path, context: 'halab-lab2', current: true, changed: true });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(read(path)['current-context']).toBe('halab-lab2');
    expect((await mergeLabContext('lab2', admin, { path })).changed).toBe(false);
    const r = await removeLabContext('lab2', { path });
    expect(r).toMatchObject({ removed: true, wasCurrent: true });
    expect(readFileSync(path, 'utf8')).toBe(OTHER.replace('current-context: kind-dev\n', ''));
    expect((await removeLabContext('lab2', { path })).removed).toBe(false);
  });
  it('creates the file and its directory when there is none; removal of a missing file is a no-op', async () => {
    const path = join(dir, 'new', '.kube', 'config');
    expect((await removeLabContext('lab2', { path })).removed).toBe(false);
    expect(existsSync(path)).toBe(false);
    await mergeLabContext('lab2', admin, { path, switchContext: false });
    const k = read(path);
    expect(names(k).contexts).toEqual(['halab-lab2']);
    expect(k['current-context']).toBeUndefined();
  });
  it('uses $KUBECONFIG by default', async () => {
    const path = join(dir, 'env-config');
    const saved = process.env.KUBECONFIG;
    process.env.KUBECONFIG = path;
    try {
      expect((await mergeLabContext('lab3', admin)).path).toBe(path);
      expect(names(read(path)).contexts).toEqual(['halab-lab3']);
    } finally {
      if (saved === undefined) delete process.env.KUBECONFIG;
      else process.env.KUBECONFIG = saved;
    }
  });
  it('writes through a symlink, keeping the link', async () => {
    const real = join(dir, 'real-config');
    const link = join(dir, 'link-config');
    writeFileSync(real, OTHER);
    symlinkSync(real, link);
    await mergeLabContext('lab2', admin, { path: link });
    expect(names(read(real)).contexts).toEqual(['kind-dev', 'halab-lab2']);
    expect(readFileSync(link, 'utf8')).toBe(readFileSync(real, 'utf8'));
  });
  it('leaves an invalid kubeconfig untouched and says so', async () => {
    const path = join(dir, 'bad');
    writeFileSync(path, 'a: [\n');
    await expect(mergeLabContext('lab2', admin, { path })).rejects.toMatchObject({ code: 'KUBECONFIG_INVALID' });
    expect(readFileSync(path, 'utf8')).toBe('a: [\n');
  });
  it('says when the lab has no admin kubeconfig', async () => {
    await expect(mergeLabContext('lab2', join(dir, 'none.conf'), { path: join(dir, 'c') })).rejects.toMatchObject({
      code: 'NO_KUBECONFIG',
    });
  });
  it('starts again from the new content when the file changes between its read and its rename', async () => {
    const path = join(dir, 'racy');
    writeFileSync(path, OTHER);
    let calls = 0;
    await updateFile(path, (text) => {
      calls++;
      // the first time, another writer adds its own context after we read
      if (calls === 1) writeFileSync(path, `${text}# written by someone else\n`);
      return text.includes('# ours') ? text : `${text}# ours\n`;
    });
    expect(calls).toBe(3); // read, raced; read again, renamed; read once more: in place
    expect(readFileSync(path, 'utf8')).toBe(`${OTHER}# written by someone else\n# ours\n`);
  });
  it('runs merges of two labs at the same time without losing either', async () => {
    const path = join(dir, 'both');
    writeFileSync(path, OTHER);
    await Promise.all([mergeLabContext('a1', admin, { path }), mergeLabContext('a2', admin, { path })]);
    expect(names(read(path)).contexts.sort()).toEqual(['halab-a1', 'halab-a2', 'kind-dev']);
  });
});
