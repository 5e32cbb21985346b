import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { DrillResult, ProbeSample } from '../api/drills.ts';
import {
  listReports,
  markdownToHtml,
  readReport,
  renderHtml,
  renderMarkdown,
  renderSvg,
  writeReport,
} from './report.ts';

const T0 = Date.parse('2026-01-02T03:04:05.000Z');

const samples: ProbeSample[] = [
  { t: T0 + 1000, kind: 'read', op: 'GET /readyz', ok: true, latencyMs: 20 },
  {
    t: T0 + 1100,
    kind: 'read',
    op: 'GET configmap',
    ok: false,
    latencyMs: 2000,
    error: 'curl: (28) Operation timed out',
  },
  {
    t: T0 + 1200,
    kind: 'write',
    op: 'PATCH configmap',
    ok: null,
    latencyMs: 2500,
    error: 'curl: (28) timed out (sent: outcome unknown)',
  },
  { t: T0 + 3000, kind: 'read', op: 'GET configmap (cache)', ok: true, latencyMs: 35 },
  { t: T0 + 3100, kind: 'write', op: 'PATCH configmap', ok: true, latencyMs: 40 },
];

const result: DrillResult = {
  runId: '20260102T030405Z-lb-failover-abcd',
  drill: 'lb-failover',
  lab: 'fixture',
  startedAt: new Date(T0).toISOString(),
  durationMs: 12_345,
  ok: false,
  title: 'The active load balancer loses power',
  concept: 'The standby takes the VIP when the adverts stop.',
  predictions: [
    {
      id: 'vip-takeover',
      label: 'VIP takeover by lb2',
      value: 722,
      min: 522,
      margin: 500,
      unit: 'ms',
      formula: '3 × advert_int 0.2 s + skew',
    },
    {
      id: 'read-outage',
      label: 'Longest read outage',
      value: 802,
      margin: 1000,
      unit: 'ms',
      formula: 'takeover + interval',
    },
    { id: 'never', label: 'Not measured | piped', value: 1, margin: 0, unit: 'count', formula: 'n/a' },
  ],
  measurements: [
    {
      id: 'vip-takeover',
      label: 'VIP takeover by lb2',
      value: 687,
      unit: 'ms',
      predictionId: 'vip-takeover',
      verdict: 'as predicted',
      how: 'eth0 polled on lb2',
    },
    {
      id: 'read-outage',
      label: 'Longest read outage',
      value: 2100,
      unit: 'ms',
      predictionId: 'read-outage',
      verdict: 'worse than predicted',
    },
    { id: 'failback', label: 'VIP back on lb1', value: 2800, unit: 'ms', how: 'polled every 100 ms' },
  ],
  probe: [
    {
      kind: 'read',
      requests: 3,
      failures: 1,
      unknowns: 0,
      longestOutageMs: 2015,
      recoveryMs: 1900,
      p50LatencyMs: 20,
      p99LatencyMs: 35,
    },
    {
      kind: 'write',
      requests: 2,
      failures: 0,
      unknowns: 1,
      longestOutageMs: 1940,
      recoveryMs: 1940,
      p50LatencyMs: 40,
      p99LatencyMs: 40,
    },
  ],
  probeByOp: [
    {
      kind: 'read',
      op: 'GET /readyz',
      requests: 1,
      failures: 0,
      unknowns: 0,
      longestOutageMs: 0,
      recoveryMs: 0,
      p50LatencyMs: 20,
      p99LatencyMs: 20,
    },
  ],
  checks: [
    { id: 'vip-moved', title: 'The VIP moved to lb2', ok: true, expected: 'on lb2 only', observed: 'on lb2' },
    { id: 'outage', title: 'No long outage', ok: false, expected: '≤ 1.8 s', observed: '2.1 s' },
  ],
  marks: [
    { t: T0 + 1150, label: 'lb1 powered off', kind: 'fault' },
    { t: T0 + 1837, label: 'VIP on lb2', kind: 'recovery' },
    { t: T0 + 2500, label: 'note <b>', kind: 'info' },
  ],
  walkthrough: [{ host: 'm1', command: 'etcdctl snapshot restore /x.db \\\n  --name m1', why: 'restore m1' }],
  probeHost: 'w1',
  probeWindow: { from: T0 + 900, to: T0 + 4000 },
};

describe('renderMarkdown', () => {
  const md = renderMarkdown(result, samples);

  it('summary, the prediction-vs-measured table with verdicts, checks, timeline, walkthrough', () => {
    expect(md).toContain('# Drill lb-failover: The active load balancer loses power');
    expect(md).toContain('- result: **FAILED** (1/2 checks passed)');
    expect(md).toContain('## Prediction vs measured');
    const table = md.split('## Prediction vs measured')[1]!.split('\n\n')[1];
    expect(table).toMatchInlineSnapshot(`
      "| what | predicted | measured | verdict | how it was predicted |
      |---|---|---|---|---|
      | VIP takeover by lb2 | 522 ms – 722 ms (+500 ms margin) | 687 ms | ✓ as predicted | 3 × advert_int 0.2 s + skew |
      | Longest read outage | 802 ms (+1000 ms margin) | 2100 ms | ✗ worse than predicted | takeover + interval |
      | Not measured \\| piped | 1 (+0 margin) | not measured | — | n/a |"
    `);
    expect(md).toContain('| VIP back on lb1 | 2800 ms | polled every 100 ms |');
    expect(md).toContain('| No long outage | ≤ 1.8 s | 2.1 s | ✗ FAIL |');
    expect(md).toContain('| all reads | 3 | 1 | 0 | 2015 ms | 1900 ms | 20 / 35 ms |');
    expect(md).toContain('| GET /readyz | 1 | 0 | 0 | 0 ms | — | 20 / 20 ms |');
    expect(md).toContain('- 1.15 s — fault: lb1 powered off');
    expect(md).toContain('On **m1** — restore m1\n\n```sh\netcdctl snapshot restore /x.db \\\n  --name m1\n```');
    expect(md).toContain('5 requests from w1 through the VIP');
  });
});

describe('renderSvg', () => {
  const svg = renderSvg(result, samples);
  const count = (re: RegExp) => (svg.match(re) ?? []).length;

  it('is a self-contained SVG with a lane per kind and one tick per request, coloured by outcome', () => {
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    expect(svg).not.toMatch(/href=|<script|url\(/);
    expect(count(/class="lane-read"/g)).toBe(1);
    expect(count(/class="lane-write"/g)).toBe(1);
    expect(count(/class="s-ok"/g)).toBe(3);
    expect(count(/class="s-failed"/g)).toBe(1);
    expect(count(/class="s-unknown"/g)).toBe(1);
    // latency plot: a circle per read, a square per write
    expect(count(/<circle /g)).toBe(3);
  });

  it('marks are vertical lines with escaped labels, the axis is in seconds', () => {
    expect(count(/class="mark-fault"/g)).toBe(1);
    expect(count(/class="mark-recovery"/g)).toBe(1);
    expect(count(/class="mark-info"/g)).toBe(1);
    expect(svg).toContain('lb1 powered off');
    expect(svg).toContain('note &lt;b&gt;');
    expect(svg).toContain('>0 s</text>');
    expect(svg).toContain('>1 s</text>');
  });

  it('renders with no samples at all', () => {
    const empty = renderSvg({ ...result, marks: [], probeWindow: undefined }, []);
    expect(empty).toContain('</svg>');
    expect(empty).toContain('0 probe requests');
  });
});

describe('HTML', () => {
  it('converts the Markdown subset and inlines the SVG', () => {
    expect(
      markdownToHtml('# T\n\n| a | b |\n|---|---|\n| 1 \\| x | **2** |\n\n- `x` y\n\n```sh\na < b\n```\ntext'),
    ).toBe(
      '<h1>T</h1>\n<table>\n<thead><tr><th>a</th><th>b</th></tr></thead>\n<tbody>\n<tr><td>1 | x</td><td><strong>2</strong></td></tr>\n</tbody>\n</table>\n<ul>\n<li><code>x</code> y</li>\n</ul>\n<pre><code>a &lt; b</code></pre>\n<p>text</p>',
    );
    const md = renderMarkdown(result, samples);
    const svg = renderSvg(result, samples);
    const html = renderHtml(result, md, svg);
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).toContain('<h2>Prediction vs measured</h2>');
    expect(html).toContain(svg.trim());
    expect(html).not.toContain('timeline.svg');
  });
});

describe('report files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'halab-report-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes json, md, svg and html, lists them newest first and reads them back', async () => {
    const older = {
      ...result,
      runId: '20250101T000000Z-master-down-0000',
      drill: 'master-down',
      startedAt: '2025-01-01T00:00:00.000Z',
      ok: true,
    };
    await writeReport(dir, { result: older, samples: [], events: [] });
    const d = await writeReport(dir, {
      result,
      samples,
      events: [{ type: 'drill:log', runId: result.runId, message: 'hi', at: T0 }],
    });
    expect(d).toBe(join(dir, 'reports', result.runId));
    const j = JSON.parse(readFileSync(join(d, 'report.json'), 'utf8'));
    expect(j.samples).toHaveLength(5);
    expect(j.events).toHaveLength(1);
    expect(j.result.runId).toBe(result.runId);
    expect(readFileSync(join(d, 'report.md'), 'utf8')).toContain('## Prediction vs measured');
    expect(readFileSync(join(d, 'timeline.svg'), 'utf8')).toContain('<svg');
    expect(readFileSync(join(d, 'report.html'), 'utf8')).toContain('<svg');
    const list = await listReports(dir);
    expect(list.map((r) => r.runId)).toEqual([result.runId, older.runId]);
    expect(list[0]).toMatchObject({ drill: 'lb-failover', lab: 'fixture', ok: false, dir: d });
    const back = await readReport(dir, result.runId);
    expect(back.result).toEqual(result);
    expect(back.markdown).toBe(renderMarkdown(result, samples));
    await expect(readReport(dir, 'nope')).rejects.toMatchObject({ code: 'NO_REPORT' });
    await expect(readReport(dir, '../etc')).rejects.toMatchObject({ code: 'NO_REPORT' });
    expect(await listReports(join(dir, 'missing'))).toEqual([]);
  });
});
