// The desktop app's UI end to end, on a REAL lab: `halab ui` (its own HALAB_HOME) serves the
// built renderer; Debian's Chromium (headless, through playwright-core) drives it like a user:
// create the reference lab from the wizard and watch every host turn healthy on the map; run
// lb-failover from the Drills screen and see the VIP holder change and the outage on the chart;
// take a snapshot and see it listed as good; open a terminal on m1 and run `hostname`.
// A screenshot of each screen goes to test-results/screenshots/. afterAll removes the lab and
// checks that nothing of it is left.
//
// HALAB_UI_LAB=NAME uses that existing, ready lab instead (e.g. the one `npm start` made; its
// HALAB_HOME, or the default state directory): the wizard is filled and validated but not
// submitted, the lab is opened from the Labs screen, and it is left running afterwards.
//   sudo HALAB_UI_LAB=halab npx vitest run --project integration tests/ui
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { halabHome, readState } from '../../provisioning/state/store.ts';
import { cli, freshHome, leaks, removeHome, ROOT, saveLabLog, skipUnlessRoot } from '../integration/helpers.ts';

const skip = skipUnlessRoot();
/** An existing lab to use (HALAB_UI_LAB), else this test creates its own from the wizard. */
const EXISTING = process.env.HALAB_UI_LAB || undefined;
const WIZARD_LAB = 'itui';
const LAB = EXISTING ?? WIZARD_LAB;
const SUBNET = '10.213.86.0/24';
let HOSTS = ['lb1', 'lb2', 'm1', 'm2', 'm3', 'w1', 'w2'];
const SHOTS = join(ROOT, 'test-results', 'screenshots');
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** renderer/dist/index.html exists and is newer than everything under renderer/src (and index.html). */
function rendererBuildFresh(): boolean {
  const built = statSync(join(ROOT, 'renderer', 'dist', 'index.html'), { throwIfNoEntry: false })?.mtimeMs ?? 0;
  let newest = statSync(join(ROOT, 'renderer', 'index.html')).mtimeMs;
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  walk(join(ROOT, 'renderer', 'src'));
  return built > newest;
}

describe.skipIf(!!skip)('the app in a browser (halab ui) on a real lab', () => {
  let home = '';
  let ui: ChildProcess | undefined;
  let url = '';
  let origin = '';
  let context: BrowserContext | undefined;
  let page: Page;
  let profile = '';
  const pageErrors: string[] = [];

  const shot = async (name: string, p: Page = page) => {
    await p.evaluate(() => window.scrollTo(0, 0));
    await p.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  };
  const nav = async (name: string) => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('button', { name, exact: true }).click();
  };

  beforeAll(async () => {
    if (EXISTING) {
      home = halabHome();
      const state = await readState(EXISTING);
      if (state?.phase !== 'ready')
        throw new Error(`HALAB_UI_LAB=${EXISTING}: no ready lab of that name in ${home} (npm start makes one)`);
      HOSTS = state.spec.hosts.map((h) => h.name);
    } else home = freshHome('ui');
    mkdirSync(SHOTS, { recursive: true });
    // the renderer this test serves: `npm run build` unless the build is newer than every source
    // (asynchronously: a worker blocked for minutes misses vitest's own RPC deadlines)
    if (!rendererBuildFresh())
      await promisify(execFile)('npm', ['run', 'build'], { cwd: ROOT, timeout: 400_000, maxBuffer: 64 * 1024 * 1024 });
    ui = spawn(join(ROOT, 'bin', 'halab'), ['ui', '--json'], {
      env: { ...process.env, HALAB_HOME: home },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    url = await new Promise<string>((resolve, reject) => {
      let out = '';
      const t = setTimeout(() => reject(new Error(`halab ui did not start: ${out}`)), 60_000);
      ui!.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const line = out.split('\n').find((l) => l.startsWith('{'));
        if (line) {
          clearTimeout(t);
          resolve((JSON.parse(line) as { url: string }).url);
        }
      });
      ui!.on('exit', (code) => reject(new Error(`halab ui exited (${code}): ${out}`)));
    });
    origin = new URL(url).origin;
    profile = mkdtempSync(join(tmpdir(), 'halab-chromium-'));
    // a fresh profile (user-data-dir) per run
    context = await chromium.launchPersistentContext(profile, {
      executablePath: '/usr/bin/chromium',
      args: CHROMIUM_ARGS,
      viewport: { width: 1400, height: 960 },
      colorScheme: 'light',
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(url);
  });

  afterAll(async () => {
    await context?.close().catch(() => {});
    if (profile) rmSync(profile, { recursive: true, force: true });
    if (ui && ui.exitCode === null) {
      const exited = new Promise((r) => ui!.once('exit', r));
      ui.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (ui.exitCode === null) ui.kill('SIGKILL');
    }
    if (EXISTING) return; // not ours: it keeps running
    // always remove the lab, whatever failed, and check that nothing of it is left
    saveLabLog(home, LAB);
    const r = await cli(home, ['down', LAB]);
    const left = leaks(home, LAB);
    removeHome(home);
    expect(r.code === 0 || /no lab named/.test(r.stderr), r.stderr).toBe(true);
    expect(left).toEqual([]);
  });

  /** Submit the filled wizard and wait for the run to end done. */
  const createFromWizard = async () => {
    await page.getByRole('button', { name: 'Create lab' }).click();
    await page.getByRole('heading', { name: `Provisioning: up ${LAB}` }).waitFor();
    await page
      .getByRole('listitem', { name: /: running$/ })
      .first()
      .waitFor({ timeout: 60_000 });
    await page.waitForTimeout(3000);
    await shot('02-provisioning');
    await page
      .getByRole('status')
      .filter({ hasText: /^(done|failed|cancelled)$/ })
      .waitFor({ timeout: 480_000 });
    expect(
      await page
        .getByRole('status')
        .filter({ hasText: /^(done|failed|cancelled)$/ })
        .textContent(),
    ).toBe('done');
  };

  it('the page loads with its token; without the token the API answers 401', async () => {
    await page.getByRole('heading', { name: 'Labs' }).waitFor();
    await page.getByRole('status').filter({ hasText: 'connected' }).waitFor();
    expect((await fetch(`${origin}/api/ping`)).status).toBe(401);
    expect((await fetch(`${origin}/api/call/listLabs`, { method: 'POST', body: '[]' })).status).toBe(401);
    const token = new URL(url).hash.replace('#token=', '');
    expect((await fetch(`${origin}/api/ping`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
  });

  it(`${EXISTING ? `fills the wizard, opens lab ${EXISTING}` : 'creates the reference lab from the wizard'} and sees every host turn healthy on the map`, async () => {
    await nav('Labs');
    await page.getByRole('button', { name: 'New lab' }).click();
    await page.getByLabel('Lab name').fill('Bad_Name');
    await page
      .getByText(/is not a DNS label/)
      .first()
      .waitFor();
    await page.getByLabel('Lab name').fill(WIZARD_LAB);
    await page.getByLabel('Subnet').fill(SUBNET);
    await page.getByLabel('Load balancers').fill('2');
    await page.getByLabel('Masters').fill('3');
    await page.getByLabel('Workers').fill('2');
    await page.getByText('Valid: ready to create').waitFor({ timeout: 30_000 });
    await expect(page.getByRole('table', { name: 'Planned hosts' }).getByRole('row').count()).resolves.toBe(
      2 + 3 + 2 + 1,
    );
    await shot('01-labs-wizard');
    if (EXISTING) {
      // the lab is there already: open it instead of creating one
      await page.getByRole('button', { name: 'Close the wizard' }).click();
      await page.getByRole('button', { name: `Open lab ${EXISTING}` }).click();
    } else await createFromWizard();
    await nav('Lab view');
    await page.getByRole('status').filter({ hasText: 'all hosts healthy' }).waitFor({ timeout: 120_000 });
    for (const h of HOSTS) {
      await expect(page.getByRole('button', { name: new RegExp(`^${h}: healthy`) }).count()).resolves.toBe(1);
    }
    expect(await page.getByTestId('vip-holder').textContent()).toMatch(/^lb[12]$/);
    await expect(page.getByRole('button', { name: /^m\d: healthy.*etcd leader/ }).count()).resolves.toBe(1);
    await shot('03-lab-view');
    await page.getByRole('button', { name: /^m1: healthy/ }).click();
    await page.getByRole('complementary', { name: 'Details of m1' }).waitFor();
    await shot('04-lab-view-host-details');
    await page.getByRole('button', { name: 'Close details' }).click();
  });

  it('runs lb-failover from the Drills screen: the VIP holder changes on the map, the outage shows on the chart', async () => {
    await nav('Drills');
    const holder = page.getByTestId('vip-holder');
    await holder.waitFor({ timeout: 30_000 });
    const before = (await holder.textContent())!;
    expect(before).toMatch(/^lb[12]$/);
    await page.getByRole('button', { name: 'Run lb-failover step by step' }).click();
    const result = page.getByRole('status', { name: 'Drill result' });
    let sawChange = false;
    const deadline = Date.now() + 480_000;
    while (Date.now() < deadline) {
      const res = (await result.textContent().catch(() => '')) ?? '';
      if (/passed|failed/.test(res)) break;
      const next = page.getByRole('button', { name: 'Next step' });
      if (await next.isVisible().catch(() => false)) {
        const waiting =
          (await page
            .getByRole('listitem', { name: /: waiting$/ })
            .first()
            .getAttribute('aria-label')
            .catch(() => '')) ?? '';
        if (/^Verify/.test(waiting)) {
          // the fault is in and observed: the map must show the standby holding the VIP
          await expect.poll(async () => holder.textContent(), { timeout: 30_000, interval: 500 }).not.toBe(before);
          sawChange = true;
          await shot('05-drill-failover');
        }
        await next.click();
      }
      await page.waitForTimeout(500);
    }
    expect(sawChange).toBe(true);
    expect(await result.textContent()).toMatch(/passed|failed/);
    // the probe's outage during the switch is drawn on the chart
    expect(await page.getByTestId('outage').count()).toBeGreaterThan(0);
    expect(await page.getByRole('img', { name: /outage/ }).count()).toBeGreaterThan(0);
    await page.getByRole('table', { name: 'Verification results' }).waitFor();
    await shot('06-drills');
    await page
      .getByRole('region', { name: 'Past reports' })
      .getByRole('button', { name: /^lb-failover/ })
      .first()
      .click();
    await page.getByRole('img', { name: /^Timeline of lb-failover/ }).waitFor({ timeout: 30_000 });
    await page.getByRole('button', { name: 'Export Markdown' }).waitFor();
    await shot('07-drill-report');
  });

  it('takes a snapshot and sees it listed as good', async () => {
    await nav('Snapshots');
    await page.getByRole('button', { name: 'Take a snapshot' }).click();
    const taken = page.getByRole('status').filter({ hasText: /Snapshot taken on/ });
    await taken.waitFor({ timeout: 240_000 });
    expect(await taken.textContent()).toMatch(/good/);
    const file = (await taken.locator('code').textContent())!;
    const row = page.getByRole('table', { name: 'Snapshots' }).getByRole('row').filter({ hasText: file });
    await row.waitFor({ timeout: 120_000 });
    expect(await row.textContent()).toMatch(/good/);
    await shot('08-snapshots');
  });

  it('opens a terminal on m1 and runs hostname', async () => {
    await nav('Terminal');
    await page.getByLabel('Host').selectOption('m1');
    await page.getByRole('button', { name: 'Open terminal' }).click();
    await page.getByRole('heading', { name: `Terminal: m1 (${LAB})` }).waitFor({ timeout: 60_000 });
    const rows = page.locator('.xterm-rows');
    await expect.poll(async () => rows.innerText(), { timeout: 30_000 }).toMatch(/[#$]\s*$/m);
    await page.locator('.xterm-helper-textarea').focus();
    await page.keyboard.type('hostname\n');
    await expect.poll(async () => rows.innerText(), { timeout: 30_000 }).toMatch(/^m1\s*$/m);
    await shot('09-terminal');
  });

  it('shows the providers and the prerequisites with their fixes', async () => {
    await nav('Settings');
    await page
      .getByRole('status')
      .filter({ hasText: /all present|missing/ })
      .waitFor({ timeout: 120_000 });
    await page.getByRole('table', { name: 'Providers' }).getByText('netns').waitFor();
    await shot('10-settings');
    await nav('Labs');
    await page.getByRole('row').filter({ hasText: LAB }).waitFor();
    await shot('00-labs');
  });

  it('is readable in the dark theme', async () => {
    const p = await context!.newPage();
    try {
      await p.emulateMedia({ colorScheme: 'dark' });
      await p.goto(url);
      await p.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: 'Lab view', exact: true }).click();
      await p.getByRole('status').filter({ hasText: 'all hosts healthy' }).waitFor({ timeout: 120_000 });
      const bg = await p.evaluate(() => getComputedStyle(document.body).backgroundColor);
      expect(bg).toBe('rgb(17, 20, 24)');
      await shot('11-lab-view-dark', p);
    } finally {
      await p.close();
    }
    expect(pageErrors).toEqual([]);
  });
});
