import { describe, expect, it } from 'vitest';
import { answerFileProbes, FakeHost } from '../engine/fake-lab.testutil.ts';
import { checksumScript, parseChecksums, sha256, staleFiles, syncFiles } from './files.ts';

describe('files on a host', () => {
  it('parses the checksum probe and finds stale files (content, mode, missing)', () => {
    const text = `644 ${sha256('ca')} /etc/kubernetes/pki/ca.crt\n600 ${'b'.repeat(64)} /etc/kubernetes/pki/ca.key\nmissing - /etc/kubernetes/pki/sa.key\n644 ${sha256('pub')} /etc/kubernetes/pki/sa.pub\n`;
    const remote = parseChecksums(text);
    expect(remote.get('/etc/kubernetes/pki/ca.crt')).toEqual({ mode: 0o644, sha256: sha256('ca') });
    expect(remote.get('/etc/kubernetes/pki/sa.key')).toBeUndefined();
    const files = [
      { path: '/etc/kubernetes/pki/ca.crt', content: 'ca', mode: 0o644 },
      { path: '/etc/kubernetes/pki/ca.key', content: 'key', mode: 0o600 },
      { path: '/etc/kubernetes/pki/sa.key', content: 'sa', mode: 0o600 },
      { path: '/etc/kubernetes/pki/sa.pub', content: 'pub', mode: 0o600 },
    ];
    // ca.key: content differs; sa.key: missing; sa.pub: mode differs
    expect(staleFiles(files, remote).map((f) => f.path)).toEqual([
      '/etc/kubernetes/pki/ca.key',
      '/etc/kubernetes/pki/sa.key',
      '/etc/kubernetes/pki/sa.pub',
    ]);
    expect(checksumScript(['/a', '/b c'])).toContain("for f in /a '/b c'; do");
  });

  it('syncFiles writes what differs, and nothing the second time', async () => {
    const host = new FakeHost('m1', answerFileProbes);
    const files = [
      { path: '/etc/a/x.conf', content: 'x=1\n', mode: 0o644 },
      { path: '/etc/b/y.key', content: Buffer.from('secret'), mode: 0o600 },
    ];
    expect(await syncFiles(host, files)).toEqual(['/etc/a/x.conf', '/etc/b/y.key']);
    expect(host.commands).toContain('mkdir -p /etc/a /etc/b');
    expect(host.files.get('/etc/b/y.key')).toEqual({ content: Buffer.from('secret'), mode: 0o600 });
    expect(await syncFiles(host, files)).toEqual([]);
    expect(await syncFiles(host, [{ ...files[0]!, mode: 0o600 }])).toEqual(['/etc/a/x.conf']);
  });
});
