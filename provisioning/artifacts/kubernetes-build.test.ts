// The Kubernetes specifics of a build from the module proxy: the helper go.mod and the version stamps.
import { describe, expect, it } from 'vitest';
import { HalabError } from '../errors.ts';
import { EXPECTED_STAGING, FIXTURE_GOMOD } from './fixtures.testutil.ts';
import { parseGoMod } from './gomod.ts';
import { renderHelperGoMod, stagingModules, versionLdflags } from './kubernetes-build.ts';
import { stagingVersion } from './version.ts';

describe('helper go.mod', () => {
  it('derives the staging modules from k8s.io/kubernetes go.mod (v0.0.0 requires and ./staging replaces)', () => {
    expect(stagingModules(FIXTURE_GOMOD)).toEqual(EXPECTED_STAGING);
  });

  it('maps the Kubernetes version to the staging release', () => {
    expect(stagingVersion('v1.34.4')).toBe('v0.34.4');
    expect(stagingVersion('v1.36.3')).toBe('v0.36.3');
    expect(stagingVersion('v1.35.0-rc.1')).toBe('v0.35.0-rc.1');
    expect(() => stagingVersion('1.34')).toThrow(HalabError);
  });

  it('requires k8s.io/kubernetes and replaces every staging module with v0.MINOR.PATCH', () => {
    const text = renderHelperGoMod(FIXTURE_GOMOD, 'v1.34.4');
    for (const m of EXPECTED_STAGING) expect(text).toContain(`\t${m} => ${m} v0.34.4\n`);
    expect(text).toContain('require k8s.io/kubernetes v1.34.4\n');
    expect(text).toContain('\ngo 1.24.0\n');
    expect(text).toContain('\ngodebug default=go1.24\n');
    // non-local replacements of Kubernetes are carried over; nothing points at a directory
    expect(text).toContain('github.com/example/forked v1.2.3 => github.com/example/fork v1.2.4');
    const parsed = parseGoMod(text);
    expect(parsed.module).toBe('halab.local/kubernetes-build');
    expect(parsed.require).toEqual([{ path: 'k8s.io/kubernetes', version: 'v1.34.4', indirect: false }]);
    expect(parsed.replace.filter((r) => r.to.startsWith('.'))).toEqual([]);
    expect(parsed.replace.filter((r) => r.toVersion === 'v0.34.4').map((r) => r.from)).toEqual(EXPECTED_STAGING);
    // not hard-coded: another version gives other replace targets
    expect(renderHelperGoMod(FIXTURE_GOMOD, 'v1.35.4')).toContain('\tk8s.io/api => k8s.io/api v0.35.4\n');
  });

  it('refuses a local replace that no module release can satisfy', () => {
    const bad = `${FIXTURE_GOMOD}\nreplace k8s.io/odd => ./third_party/odd\n`;
    expect(() => stagingModules(bad)).toThrow(/third_party\/odd/);
  });
});

describe('version ldflags', () => {
  it('stamps component-base and client-go the way release builds do', () => {
    const f = versionLdflags({ version: 'v1.34.4', buildDate: '2026-02-10T12:53:36Z', gitCommit: 'abc123' });
    const words = f.split(' ');
    expect(words.slice(0, 2)).toEqual(['-s', '-w']);
    for (const pkg of ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version']) {
      for (const kv of [
        'gitVersion=v1.34.4',
        'gitMajor=1',
        'gitMinor=34',
        'gitCommit=abc123',
        'gitTreeState=clean',
        'buildDate=2026-02-10T12:53:36Z',
      ]) {
        expect(f).toContain(`-X ${pkg}.${kv}`);
      }
    }
  });

  it('stamps an empty gitCommit when unknown and only stamps packages in the build', () => {
    const f = versionLdflags({
      version: 'v1.35.4',
      buildDate: '2026-01-01T00:00:00Z',
      packages: ['k8s.io/component-base/version'],
      strip: false,
    });
    expect(f).toContain('-X k8s.io/component-base/version.gitCommit= ');
    expect(f).not.toContain('client-go');
    expect(f).not.toContain('-s');
    expect(f).toContain('-X k8s.io/component-base/version.gitMinor=35');
  });
});
