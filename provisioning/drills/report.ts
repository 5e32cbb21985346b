// Drill reports: <labdir>/reports/<runId>/{report.json, report.md, timeline.svg, report.html}.
// The renderers are pure (a result and its samples in, text out) and unit-tested.

import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import type {
  DrillEvent,
  DrillResult,
  Measurement,
  Prediction,
  ProbeSample,
  ProbeStats,
  ReportInfo,
} from '../api/drills.ts';
import { HalabError } from '../errors.ts';

export interface ReportData {
  result: DrillResult;
  samples: ProbeSample[];
  events: DrillEvent[];
}

export const REPORT_FILES = { json: 'report.json', md: 'report.md', svg: 'timeline.svg', html: 'report.html' } as const;

export function reportsDir(labDir: string): string {
  return join(labDir, 'reports');
}

// ---------------------------------------------------------------------------------------------
// Formatting helpers
// ---------------------------------------------------------------------------------------------

export function fmtValue(v: number, unit: Prediction['unit']): string {
  if (unit === 'count') return String(Math.round(v * 100) / 100);
  if (unit === 's') return `${Number(v.toFixed(2))} s`;
  return v >= 10_000 ? `${Number((v / 1000).toFixed(1))} s` : `${Math.round(v)} ms`;
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const ms = (v: number) => (v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${Math.round(v)} ms`);

function verdictMark(v: Measurement['verdict'] | undefined): string {
  if (v === 'worse than predicted') return '✗ worse than predicted';
  if (v === 'better than predicted') return '✓ better than predicted';
  if (v === 'as predicted') return '✓ as predicted';
  return '—';
}

function predictionText(p: Prediction): string {
  const range =
    p.min !== undefined ? `${fmtValue(p.min, p.unit)} – ${fmtValue(p.value, p.unit)}` : fmtValue(p.value, p.unit);
  return `${range} (+${fmtValue(p.margin, p.unit)} margin)`;
}

function statsRows(stats: ProbeStats[]): string[] {
  return stats.map(
    (s) =>
      `| ${cell(s.op ?? `all ${s.kind}s`)} | ${s.requests} | ${s.failures} | ${s.unknowns} | ${ms(s.longestOutageMs)} | ${s.recoveryMs ? `${ms(s.recoveryMs)}${s.recovered === false ? ' (not recovered)' : ''}` : '—'} | ${s.p50LatencyMs} / ${s.p99LatencyMs} ms |`,
  );
}

/** The Markdown report (pure). */
export function renderMarkdown(r: DrillResult, samples: ProbeSample[] = []): string {
  const out: string[] = [];
  const t0 = Date.parse(r.startedAt);
  const rel = (t: number) => `${((t - t0) / 1000).toFixed(2)} s`;
  out.push(`# Drill ${r.drill}${r.title ? `: ${r.title}` : ''}`, '');
  out.push(`- lab: **${r.lab}**, run \`${r.runId}\``);
  out.push(`- started ${r.startedAt}, took ${(r.durationMs / 1000).toFixed(1)} s`);
  const passed = r.checks.filter((c) => c.ok).length;
  out.push(
    `- result: **${r.ok ? 'PASSED' : 'FAILED'}** (${passed}/${r.checks.length} checks passed)${r.error ? ` — ${r.error}` : ''}`,
  );
  if (r.probeHost)
    out.push(
      `- probe: ${samples.length} requests from ${r.probeHost} through the VIP (stats cover the drill up to the cleanup)`,
    );
  out.push('');
  if (r.concept) out.push('## What this drill teaches', '', r.concept, '');

  out.push('## Prediction vs measured', '');
  out.push('| what | predicted | measured | verdict | how it was predicted |', '|---|---|---|---|---|');
  const used = new Set<string>();
  for (const p of r.predictions) {
    const m = r.measurements.filter((x) => x.predictionId === p.id);
    m.forEach((x) => used.add(x.id));
    const measured = m.length ? m.map((x) => fmtValue(x.value, x.unit)).join(', ') : 'not measured';
    const verdict = m.length ? m.map((x) => verdictMark(x.verdict)).join(', ') : '—';
    out.push(`| ${cell(p.label)} | ${cell(predictionText(p))} | ${cell(measured)} | ${verdict} | ${cell(p.formula)} |`);
  }
  out.push('');
  const others = r.measurements.filter((m) => !used.has(m.id));
  if (others.length) {
    out.push('Other measurements:', '');
    out.push('| what | measured | how |', '|---|---|---|');
    for (const m of others) out.push(`| ${cell(m.label)} | ${fmtValue(m.value, m.unit)} | ${cell(m.how ?? '')} |`);
    out.push('');
  }
  const hows = r.measurements.filter((m) => used.has(m.id) && m.how);
  if (hows.length) {
    out.push('How the predicted figures were measured:', '');
    for (const m of hows) out.push(`- ${m.label}: ${m.how}`);
    out.push('');
  }

  if (r.probe.length) {
    out.push('## Probe through the VIP', '');
    out.push(
      '| requests | count | failed | unknown | longest outage | recovery | latency p50 / p99 |',
      '|---|---|---|---|---|---|---|',
    );
    out.push(...statsRows(r.probe), ...statsRows(r.probeByOp ?? []));
    out.push(
      '',
      'Longest outage: the longest stretch without a successful answer. Recovery: from the fault to the first success after the last failure. Unknown: a write that was sent but got no answer (it may still have been applied).',
      '',
    );
  }

  out.push('## Checks', '');
  out.push('| check | expected | observed | verdict |', '|---|---|---|---|');
  for (const c of r.checks)
    out.push(`| ${cell(c.title)} | ${cell(c.expected)} | ${cell(c.observed)} | ${c.ok ? '✓ pass' : '✗ FAIL'} |`);
  out.push('');

  if (r.marks.length) {
    out.push('## Timeline', '');
    for (const m of [...r.marks].sort((a, b) => a.t - b.t)) out.push(`- ${rel(m.t)} — ${m.kind}: ${m.label}`);
    out.push('');
  }

  if (r.walkthrough.length) {
    out.push('## Walkthrough: the commands, to repeat by hand', '');
    for (const w of r.walkthrough) {
      out.push(`On **${w.host}** — ${w.why}`, '', '```sh', w.command, '```', '');
    }
  }
  out.push(`Timeline chart: [timeline.svg](timeline.svg)`, '');
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------
// SVG timeline
// ---------------------------------------------------------------------------------------------

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const COLORS = {
  ok: '#2e9d4f',
  failed: '#d64545',
  unknown: '#9aa0a6',
  fault: '#d64545',
  recovery: '#2e9d4f',
  info: '#5b6bbf',
} as const;

/** Nice tick step for a span (ms). */
function tickStep(spanMs: number): number {
  const steps = [100, 200, 500, 1000, 2000, 5000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000];
  return steps.find((s) => spanMs / s <= 12) ?? 600_000;
}

/**
 * The timeline (pure, self-contained SVG): a time axis in seconds from the probe's start, one lane
 * for reads and one for writes (a tick per request at the time it was sent: green ok, red failed,
 * grey unknown), the latency of every request (log scale), and the drill's marks as vertical
 * lines with labels.
 */
export function renderSvg(r: DrillResult, samples: ProbeSample[]): string {
  const W = 1000;
  const left = 70;
  const right = 20;
  const plotW = W - left - right;
  const marks = [...r.marks].sort((a, b) => a.t - b.t);
  const times = [...samples.map((s) => s.t), ...samples.map((s) => s.t + s.latencyMs), ...marks.map((m) => m.t)];
  const t0 = r.probeWindow?.from ?? (times.length ? Math.min(...times) : Date.parse(r.startedAt));
  const t1 = Math.max(t0 + 1000, ...(times.length ? times : [t0 + 1000]));
  const x = (t: number) => left + ((t - t0) / (t1 - t0)) * plotW;
  const labelRows = 3;
  const top = 20 + labelRows * 14;
  const laneH = 22;
  const lanes = [
    { kind: 'read' as const, y: top + 10 },
    { kind: 'write' as const, y: top + 10 + laneH + 8 },
  ];
  const latTop = lanes[1]!.y + laneH + 30;
  const latH = 140;
  const axisY = latTop + latH + 10;
  const H = axisY + 40;
  const maxLat = Math.max(100, ...samples.map((s) => s.latencyMs));
  const logMax = Math.log10(Math.max(maxLat, 1000));
  const logMin = Math.log10(5);
  const ly = (v: number) => latTop + latH - ((Math.log10(Math.max(v, 5)) - logMin) / (logMax - logMin)) * latH;
  const color = (s: ProbeSample) => (s.ok === true ? COLORS.ok : s.ok === false ? COLORS.failed : COLORS.unknown);
  const o: string[] = [];
  o.push(
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`,
  );
  o.push(`<title>${esc(`Drill ${r.drill} on lab ${r.lab} (${r.runId})`)}</title>`);
  o.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`);
  o.push(
    `<text x="${left}" y="14" font-size="13" font-weight="bold">${esc(`${r.drill} — ${r.ok ? 'passed' : 'FAILED'} — ${samples.length} probe requests`)}</text>`,
  );
  // lanes
  for (const lane of lanes) {
    o.push(`<g class="lane-${lane.kind}">`);
    o.push(`<text x="${left - 8}" y="${lane.y + laneH / 2 + 4}" text-anchor="end">${lane.kind}s</text>`);
    o.push(`<rect x="${left}" y="${lane.y}" width="${plotW}" height="${laneH}" fill="#f4f5f7"/>`);
    // one tick per request at the time it was sent; failures drawn last so none is hidden
    const rank = (v: ProbeSample) => (v.ok === true ? 0 : v.ok === null ? 1 : 2);
    for (const s of samples.filter((v) => v.kind === lane.kind).sort((a, b) => rank(a) - rank(b) || a.t - b.t)) {
      const w = 2;
      o.push(
        `<rect class="s-${s.ok === true ? 'ok' : s.ok === false ? 'failed' : 'unknown'}" x="${x(s.t).toFixed(1)}" y="${lane.y + 2}" width="${w.toFixed(1)}" height="${laneH - 4}" fill="${color(s)}" fill-opacity="${s.ok === true ? 0.55 : 0.9}"><title>${esc(`${s.op} ${s.ok === true ? 'ok' : s.ok === false ? 'failed' : 'unknown'} ${s.latencyMs} ms${s.error ? `: ${s.error}` : ''}`)}</title></rect>`,
      );
    }
    o.push('</g>');
  }
  // latency
  o.push('<g class="latency">');
  o.push(`<text x="${left - 8}" y="${latTop - 6}" text-anchor="end">latency</text>`);
  o.push(`<rect x="${left}" y="${latTop}" width="${plotW}" height="${latH}" fill="none" stroke="#d0d4da"/>`);
  for (const v of [10, 100, 1000, 10_000].filter((v) => Math.log10(v) <= logMax)) {
    o.push(
      `<line x1="${left}" x2="${left + plotW}" y1="${ly(v).toFixed(1)}" y2="${ly(v).toFixed(1)}" stroke="#eceef1"/>`,
    );
    o.push(
      `<text x="${left - 4}" y="${(ly(v) + 4).toFixed(1)}" text-anchor="end" fill="#666">${v >= 1000 ? `${v / 1000} s` : `${v} ms`}</text>`,
    );
  }
  for (const s of samples) {
    const shape = s.kind === 'read' ? 'circle' : 'rect';
    const cx = x(s.t);
    const cy = ly(s.latencyMs);
    if (shape === 'circle') o.push(`<circle cx="${cx.toFixed(1)}" cy="${cy.toFixed(1)}" r="1.8" fill="${color(s)}"/>`);
    else
      o.push(`<rect x="${(cx - 2).toFixed(1)}" y="${(cy - 2).toFixed(1)}" width="4" height="4" fill="${color(s)}"/>`);
  }
  o.push('</g>');
  // axis
  o.push(`<line x1="${left}" x2="${left + plotW}" y1="${axisY}" y2="${axisY}" stroke="#333"/>`);
  const step = tickStep(t1 - t0);
  for (let t = 0; t <= t1 - t0; t += step) {
    o.push(
      `<line x1="${x(t0 + t).toFixed(1)}" x2="${x(t0 + t).toFixed(1)}" y1="${axisY}" y2="${axisY + 5}" stroke="#333"/>`,
    );
    o.push(
      `<text x="${x(t0 + t).toFixed(1)}" y="${axisY + 17}" text-anchor="middle">${Number((t / 1000).toFixed(1))} s</text>`,
    );
  }
  o.push(
    `<text x="${left + plotW}" y="${axisY + 32}" text-anchor="end" fill="#666">seconds since the probe started; each request at the time it was sent · latency: reads ● writes ■ · green ok, red failed, grey unknown</text>`,
  );
  // marks
  o.push('<g class="marks">');
  marks.forEach((m, i) => {
    const mx = x(m.t).toFixed(1);
    const row = i % labelRows;
    o.push(
      `<line class="mark-${m.kind}" x1="${mx}" x2="${mx}" y1="${20 + row * 14 + 3}" y2="${axisY}" stroke="${COLORS[m.kind]}" stroke-dasharray="${m.kind === 'info' ? '2,3' : '5,3'}"/>`,
    );
    o.push(`<text x="${mx}" y="${20 + row * 14 + 10}" fill="${COLORS[m.kind]}" dx="3">${esc(m.label)}</text>`);
  });
  o.push('</g>');
  o.push('</svg>');
  return `${o.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------
// HTML: the Markdown as HTML (the small subset report.md uses) with the SVG inline
// ---------------------------------------------------------------------------------------------

function inline(s: string): string {
  return esc(s)
    .replace(/`([^`]+)`/g, '<code>$1</code>')
    .replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>')
    .replace(/\[([^\]]+)\]\(([^)]+)\)/g, '<a href="$2">$1</a>');
}

/** The subset of Markdown report.md uses: headings, paragraphs, lists, pipe tables, fenced code. */
export function markdownToHtml(md: string): string {
  const lines = md.split('\n');
  const out: string[] = [];
  let i = 0;
  const splitRow = (l: string) =>
    l
      .trim()
      .replace(/^\|/, '')
      .replace(/\|$/, '')
      .split(/(?<!\\)\|/)
      .map((c) => c.trim().replace(/\\\|/g, '|'));
  while (i < lines.length) {
    const l = lines[i] as string;
    if (l.startsWith('```')) {
      const code: string[] = [];
      i++;
      while (i < lines.length && !(lines[i] as string).startsWith('```')) code.push(lines[i++] as string);
      i++;
      out.push(`<pre><code>${esc(code.join('\n'))}</code></pre>`);
    } else if (/^#{1,6} /.test(l)) {
      const n = (/^#+/.exec(l) as RegExpExecArray)[0].length;
      out.push(`<h${n}>${inline(l.slice(n + 1))}</h${n}>`);
      i++;
    } else if (l.startsWith('|')) {
      const rows: string[] = [];
      while (i < lines.length && (lines[i] as string).startsWith('|')) rows.push(lines[i++] as string);
      const [head, , ...body] = rows;
      out.push(
        '<table>',
        `<thead><tr>${splitRow(head ?? '')
          .map((c) => `<th>${inline(c)}</th>`)
          .join('')}</tr></thead>`,
        '<tbody>',
      );
      for (const r of body)
        out.push(
          `<tr>${splitRow(r)
            .map((c) => `<td>${inline(c)}</td>`)
            .join('')}</tr>`,
        );
      out.push('</tbody>', '</table>');
    } else if (l.startsWith('- ')) {
      out.push('<ul>');
      while (i < lines.length && (lines[i] as string).startsWith('- '))
        out.push(`<li>${inline((lines[i++] as string).slice(2))}</li>`);
      out.push('</ul>');
    } else if (l.trim() === '') {
      i++;
    } else {
      const para: string[] = [];
      while (i < lines.length && (lines[i] as string).trim() !== '' && !/^(#|\||- |```)/.test(lines[i] as string))
        para.push(lines[i++] as string);
      out.push(`<p>${inline(para.join(' '))}</p>`);
    }
  }
  return out.join('\n');
}

export function renderHtml(r: DrillResult, markdown: string, svg: string): string {
  const body = markdownToHtml(markdown.replace(/^Timeline chart: .*$/m, ''));
  return [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<title>${esc(`Drill ${r.drill} — ${r.lab} — ${r.runId}`)}</title>`,
    '<style>body{font-family:sans-serif;max-width:1040px;margin:2em auto;padding:0 1em;color:#222}table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ccd;padding:3px 8px;text-align:left;vertical-align:top}th{background:#f0f2f5}pre{background:#f6f8fa;padding:8px;overflow-x:auto}code{font-family:monospace}</style>',
    '</head><body>',
    body,
    '<h2>Timeline</h2>',
    svg,
    '</body></html>',
    '',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------

export async function writeReport(labDir: string, data: ReportData): Promise<string> {
  const dir = join(reportsDir(labDir), data.result.runId);
  await fs.mkdir(dir, { recursive: true });
  const md = renderMarkdown(data.result, data.samples);
  const svg = renderSvg(data.result, data.samples);
  const html = renderHtml(data.result, md, svg);
  await fs.writeFile(
    join(dir, REPORT_FILES.json),
    `${JSON.stringify({ result: data.result, samples: data.samples, events: data.events })}\n`,
  );
  await fs.writeFile(join(dir, REPORT_FILES.md), md);
  await fs.writeFile(join(dir, REPORT_FILES.svg), svg);
  await fs.writeFile(join(dir, REPORT_FILES.html), html);
  return dir;
}

/** Every report of a lab, newest first. Unreadable directories are skipped. */
export async function listReports(labDir: string): Promise<ReportInfo[]> {
  let names: string[];
  try {
    names = await fs.readdir(reportsDir(labDir));
  } catch {
    return [];
  }
  const out: ReportInfo[] = [];
  for (const n of names) {
    const dir = join(reportsDir(labDir), n);
    try {
      const j = JSON.parse(await fs.readFile(join(dir, REPORT_FILES.json), 'utf8')) as { result: DrillResult };
      const r = j.result;
      out.push({ runId: r.runId, drill: r.drill, lab: r.lab, startedAt: r.startedAt, ok: r.ok, dir });
    } catch {
      /* half-written or foreign: skip */
    }
  }
  return out.sort((a, b) => b.startedAt.localeCompare(a.startedAt) || b.runId.localeCompare(a.runId));
}

export async function readReport(
  labDir: string,
  runId: string,
): Promise<{
  result: DrillResult;
  markdown: string;
  svg: string;
  html: string;
  samples: ProbeSample[];
  events: DrillEvent[];
}> {
  if (!/^[A-Za-z0-9._-]+$/.test(runId)) throw new HalabError('NO_REPORT', `"${runId}" is not a run id`);
  const dir = join(reportsDir(labDir), runId);
  let raw: string;
  try {
    raw = await fs.readFile(join(dir, REPORT_FILES.json), 'utf8');
  } catch {
    throw new HalabError('NO_REPORT', `there is no drill report ${runId}`, {
      fix: 'see `halab drill report` for the latest run',
    });
  }
  const j = JSON.parse(raw) as ReportData;
  const read = async (f: string, fallback: () => string) => fs.readFile(join(dir, f), 'utf8').catch(fallback);
  const markdown = await read(REPORT_FILES.md, () => renderMarkdown(j.result, j.samples));
  const svg = await read(REPORT_FILES.svg, () => renderSvg(j.result, j.samples));
  const html = await read(REPORT_FILES.html, () => renderHtml(j.result, markdown, svg));
  return { result: j.result, markdown, svg, html, samples: j.samples ?? [], events: j.events ?? [] };
}
