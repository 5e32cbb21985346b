// `npm start` as the README's first command (issue 14): on a machine where everything is set up it
// creates the lab on the default bootstrap (kubeadm) and provider, prints the kubectl context and
// the UI's URL, serves the UI until Ctrl-C, and the lab keeps running afterwards. HALAB_HOME is
// under ~/.local/state, next to the default state directory (npm start failed there once while
// every test kept its state under /tmp). Root only:
//   npx vitest run --project integration tests/integration/quickstart.test.ts
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, cli, freshHome, skipUnlessRoot, writeSpec } from './helpers.ts';
import { removeLab } from './lab-fixture.ts';

const skip = skipUnlessRoot();

const LAB = 'itqs';
const NET = '10.213.75';

describe.skipIf(!!skip)('npm start (issue 14)', () => {
  let home = '';
  let start: ChildProcess | undefined;
  let out = '';
  let exitCode: number | null | undefined;

  beforeAll(() => {
    home = freshHome('qs', { underHome: true });
  });

  afterAll(async () => {
    // whatever is left of npm start's process group (none when the Ctrl-C test ran)
    try {
      if (start?.pid) process.kill(-start.pid, 'SIGKILL');
    } catch {
      /* the group is gone */
    }
    await removeLab(home, LAB);
  });

  it('creates the lab on the default bootstrap, prints the kubectl context and the UI URL, and the UI answers', async () => {
    const spec = writeSpec(home, 'lab.yaml', `name: ${LAB}\nsubnet: ${NET}.0/24\n`);
    // its own process group, as in a terminal: Ctrl-C reaches npm, the script and the CLI
    start = spawn('npm', ['start', '--', spec], { cwd: ROOT, env: process.env, detached: true });
    start.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    start.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => start!.on('exit', (code) => resolve(code)));
    exited.then((c) => (exitCode = c));
    const deadline = Date.now() + 480_000;
    while (!/UI\s+(http:\S+)/.test(out) && exitCode === undefined && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 1000));
    expect(out, out.slice(-4000)).toMatch(/HA Lab is ready \(/);
    expect(out).toContain(`API https://${NET}.10:6443 through the VIP`);
    expect(out).toMatch(new RegExp(`kubectl\\s+context halab-${LAB} \\(current\\)`));
    const url = /UI\s+(http:\S+)/.exec(out)![1]!;
    const page = await fetch(url);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<div id="app"');

    // this machine's kubectl, the context npm start made current (KUBECONFIG is this test's own)
    const nodes = execFileSync('kubectl', ['get', 'nodes', '--no-headers', '-o', 'wide'], { encoding: 'utf8' });
    const rows = nodes
      .trim()
      .split('\n')
      .map((l) => l.split(/\s+/));
    expect(rows.map((r) => `${r[0]} ${r[1]}`).sort()).toEqual([
      'm1 Ready',
      'm2 Ready',
      'm3 Ready',
      'w1 Ready',
      'w2 Ready',
    ]);
    expect(rows.every((r) => r.at(-1)!.startsWith('containerd://'))).toBe(true);
  });

  it('Ctrl-C stops the UI and keeps the lab running', async () => {
    expect(start?.pid).toBeDefined();
    process.kill(-start!.pid!, 'SIGINT');
    const t0 = Date.now();
    while (exitCode === undefined && Date.now() - t0 < 30_000) await new Promise((r) => setTimeout(r, 200));
    expect(exitCode, out.slice(-2000)).not.toBeUndefined();
    expect(out).toMatch(/stopping the UI \(the lab keeps running/);
    const list = await cli(home, ['list']);
    expect(list.stdout).toMatch(new RegExp(`^${LAB}\\s+running\\s+ready\\s`, 'm'));
  });
});
