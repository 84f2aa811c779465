import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { machine } from '../report.js';
import { failed, type ChaosOptions, type ScenarioOutcome } from './run.js';

/** report.json, summary.md and latency.svg in `dir`. */
export async function writeChaosReport(dir: string, options: ChaosOptions, outcomes: ScenarioOutcome[], startedAt: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const doc = { startedAt, machine: machine(), options, outcomes: outcomes.map((o) => ({ ...o, failed: failed(o) })) };
  await writeFile(join(dir, 'report.json'), `${JSON.stringify(doc, null, 2)}\n`);
  const md = markdown(options, outcomes, startedAt);
  await writeFile(join(dir, 'summary.md'), md);
  await writeFile(join(dir, 'latency.svg'), svg(outcomes));
  return md;
}

const ms = (n: number | undefined) => (n === undefined ? '–' : String(Math.round(n)));

export function markdown(o: ChaosOptions, outcomes: ScenarioOutcome[], startedAt: string): string {
  const lines = [
    `# Chaos run ${startedAt}`,
    '',
    `${o.users} users × ${o.contacts} contacts, ${o.nodes} connection nodes, ${o.authorities} authority replicas, ${o.natsServers} NATS servers, ${o.trials} trials per scenario.`,
    '',
    '| scenario | trials | expected | latency p50 / p99 / max (ms) | missing | duplicate | leaked | false offline | zombie | unconverged | verdict |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const s of outcomes) {
    const t = s.totals;
    lines.push(
      `| ${s.scenario} | ${s.trials.length} | ${t.expected} | ${ms(s.latency?.p50)} / ${ms(s.latency?.p99)} / ${ms(s.latency?.max)} | ${t.missing} | ${t.duplicate} | ${t.leaked} | ${t.falseOffline} | ${t.zombie} | ${t.unconverged} | ${failed(s) ? 'FAIL' : 'pass'} |`,
    );
  }
  const reowned = outcomes.filter((s) => s.trials.some((t) => t.reownedMs !== undefined));
  if (reowned.length > 0) {
    lines.push('', 'Shards owned again after the authority kill (kill to the last shard taken over, per trial):', '');
    for (const s of reowned) lines.push(`- ${s.scenario}: ${s.trials.map((t) => (t.reownedMs === undefined ? 'not within 30 s' : `${t.reownedMs} ms`)).join(', ')}`);
  }
  const examples = outcomes.flatMap((s) => s.trials.flatMap((t) => t.examples.map((e) => `- ${s.scenario}: ${e}`))).slice(0, 30);
  if (examples.length > 0) lines.push('', '## Violations (first few)', '', ...examples);
  return `${lines.join('\n')}\n`;
}

/** One row per scenario: each detection latency as a tick on a shared millisecond axis. */
export function svg(outcomes: ScenarioOutcome[]): string {
  const rows = outcomes.filter((o) => o.trials.some((t) => t.latenciesMs.length > 0));
  const max = Math.max(1000, ...rows.flatMap((o) => o.trials.flatMap((t) => t.latenciesMs)));
  const [left, width, rowH] = [190, 600, 40];
  const height = 40 + rows.length * rowH + 30;
  const x = (v: number) => left + (v / max) * width;
  const parts = [
    `<svg xmlns='http://www.w3.org/2000/svg' width='${left + width + 30}' height='${height}' font-family='sans-serif' font-size='12'>`,
    `<text x='10' y='20'>Fault to unavailable at each contact (ms)</text>`,
  ];
  rows.forEach((o, i) => {
    const y = 40 + i * rowH + rowH / 2;
    parts.push(`<text x='10' y='${y + 4}'>${o.scenario}</text>`);
    for (const v of o.trials.flatMap((t) => t.latenciesMs)) parts.push(`<line x1='${x(v).toFixed(1)}' x2='${x(v).toFixed(1)}' y1='${y - 10}' y2='${y + 10}' stroke='#3465a4' stroke-opacity='0.35'/>`);
    if (o.latency) parts.push(`<line x1='${x(o.latency.p99).toFixed(1)}' x2='${x(o.latency.p99).toFixed(1)}' y1='${y - 14}' y2='${y + 14}' stroke='#cc0000'/>`);
  });
  const axisY = 40 + rows.length * rowH + 10;
  parts.push(`<line x1='${left}' x2='${left + width}' y1='${axisY}' y2='${axisY}' stroke='black'/>`);
  for (let k = 0; k <= 4; k++) {
    const v = (max * k) / 4;
    parts.push(`<text x='${x(v) - 10}' y='${axisY + 15}'>${Math.round(v)}</text>`);
  }
  parts.push(`<text x='${left + width - 120}' y='${axisY - 4}' fill='#cc0000'>red: p99</text>`, '</svg>');
  return `${parts.join('\n')}\n`;
}
