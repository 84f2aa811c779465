import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kustomize, readYaml, type K8sObject } from './kustomize.js';

// infra/observability and infra/chaos: names in rules and panels are names the services export, the
// rules pass promtool's unit tests (when promtool is there), and the chaos experiments hit real pods.
const root = fileURLToPath(new URL('../../../', import.meta.url));
const obs = join(root, 'infra/observability');
const METRIC_SOURCES = ['libs/telemetry/src/bus-health.ts', 'services/presence-authority/src/metrics.ts', 'services/connection-node/src/metrics.ts'];
/** Exported, but not worth a panel of their own. */
const NOT_ON_DASHBOARD = new Set(['vigil_node_streams', 'vigil_node_connections_accepted']);

/** Every series name the services expose, as the Prometheus exporter names them. */
function exportedSeries(): { base: Map<string, string>; series: Set<string> } {
  const base = new Map<string, string>();
  for (const file of METRIC_SOURCES) {
    for (const m of readFileSync(join(root, file), 'utf8').matchAll(/\b(counter|histogram|gauge)\(\s*'(vigil_[a-z0-9_]+)'/g)) base.set(m[2] ?? '', m[1] ?? '');
  }
  const series = new Set<string>();
  for (const [name, kind] of base) {
    if (kind === 'counter') series.add(`${name}_total`);
    else if (kind === 'histogram') for (const s of ['_bucket', '_count', '_sum']) series.add(`${name}${s}`);
    else series.add(name);
  }
  return { base, series };
}

const namesIn = (expr: string) => [...expr.matchAll(/\b(vigil_[a-z0-9_]+)\b/g)].map((m) => m[1] ?? '');

interface Rule { alert: string; expr: string; for?: string; labels?: Record<string, string>; annotations?: Record<string, string> }
const rules = (): Rule[] => (readYaml(join(obs, 'alerts.yaml'))[0] as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);

interface Panel { type: string; title: string; id: number; targets?: { expr: string }[]; gridPos: { x: number; w: number }; description?: string }
const dashboard = () => JSON.parse(readFileSync(join(obs, 'grafana-dashboard.json'), 'utf8')) as { panels: Panel[]; uid: string; templating: { list: { name: string }[] } };

test('the metric catalogue is read from the services (sanity: the names the issue asks for are there)', () => {
  const { base } = exportedSeries();
  for (const name of [
    'vigil_node_sessions', 'vigil_authority_sessions', 'vigil_authority_node_leases', 'vigil_authority_sessions_ended', 'vigil_authority_detection_latency_seconds',
    'vigil_authority_fanout_stanzas', 'vigil_authority_fanout_duration_seconds', 'vigil_authority_shards_owned', 'vigil_authority_shard_changes',
    'vigil_authority_heartbeat_interval_seconds', 'vigil_nats_reconnects', 'vigil_kv_errors', 'vigil_grpc_server_calls', 'vigil_node_stream_errors',
  ]) assert.ok(base.has(name), name);
});

test('the five alerts exist, each with severity and a summary, each using only exported series', () => {
  const { series } = exportedSeries();
  const all = rules();
  assert.deepEqual(all.map((r) => r.alert).sort(), ['VigilExpiryStorm', 'VigilFanOutBacklog', 'VigilHeartbeatLagNearLease', 'VigilNatsDisconnected', 'VigilShardUnowned']);
  for (const r of all) {
    assert.ok(['warning', 'critical'].includes(r.labels?.severity ?? ''), `${r.alert}: severity`);
    assert.ok(r.annotations?.summary && r.annotations.description, `${r.alert}: summary and description`);
    assert.match(r.for ?? '', /^\d+[smh]$/, `${r.alert}: for`);
    const used = namesIn(r.expr);
    assert.ok(used.length > 0);
    for (const n of used) assert.ok(series.has(n), `${r.alert} uses ${n}, which no service exports`);
  }
});

test('every alert has promtool test cases that expect it to fire and to stay quiet', () => {
  const cases = (readYaml(join(obs, 'alerts.test.yaml'))[0] as { tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[] }).tests.flatMap((t) => t.alert_rule_test);
  for (const r of rules()) {
    assert.ok(cases.some((c) => c.alertname === r.alert && c.exp_alerts.length > 0), `${r.alert}: no case where it fires`);
    assert.ok(cases.some((c) => c.alertname === r.alert && c.exp_alerts.length === 0), `${r.alert}: no case where it stays quiet`);
  }
});

const promtool = process.env.PROMTOOL_BIN || (spawnSync('promtool', ['--version']).status === 0 ? 'promtool' : undefined);

test('promtool checks the rules and passes their unit tests', { skip: promtool ? false : 'promtool is not installed (infra/observability/ensure-promtool.sh installs Debian\'s prometheus package as root); the checks above ran instead' }, () => {
  for (const args of [['check', 'rules', 'alerts.yaml'], ['test', 'rules', 'alerts.test.yaml']]) {
    const r = spawnSync(promtool ?? 'promtool', args, { cwd: obs, encoding: 'utf8' });
    assert.equal(r.status, 0, `promtool ${args.join(' ')}:\n${r.stdout}\n${r.stderr}`);
  }
});

test('the dashboard shows every exported metric, through valid queries, in a valid layout', () => {
  const { base, series } = exportedSeries();
  const d = dashboard();
  assert.equal(d.uid, 'vigil-overview');
  assert.deepEqual(d.templating.list.map((v) => v.name), ['datasource', 'namespace']);
  const ids = d.panels.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, 'panel ids unique');
  const used = new Set<string>();
  for (const p of d.panels) {
    assert.ok(p.gridPos.x + p.gridPos.w <= 24, `${p.title}: off the grid`);
    if (p.type === 'row') continue;
    assert.ok(p.description, `${p.title}: description`);
    assert.ok((p.targets ?? []).length > 0, `${p.title}: no query`);
    for (const t of p.targets ?? []) {
      for (const n of namesIn(t.expr)) {
        assert.ok(series.has(n), `${p.title} queries ${n}, which no service exports`);
        used.add(n);
      }
      assert.equal(t.expr.split('(').length, t.expr.split(')').length, `${p.title}: unbalanced parentheses in ${t.expr}`);
    }
  }
  for (const name of base.keys()) {
    if (NOT_ON_DASHBOARD.has(name)) continue;
    assert.ok([...used].some((u) => u === name || u.startsWith(`${name}_`)), `${name} is on no panel`);
  }
});

const CHAOS_ACTIONS: Record<string, string[]> = { PodChaos: ['pod-kill', 'pod-failure', 'container-kill'], NetworkChaos: ['partition', 'loss', 'delay', 'duplicate', 'corrupt', 'bandwidth'] };
const MODES = ['one', 'all', 'fixed', 'fixed-percent', 'random-max-percent'];

function checkChaosSpec(kind: string, spec: Record<string, unknown>, pods: K8sObject[], namespace: string, where: string): void {
  assert.ok(CHAOS_ACTIONS[kind]?.includes(String(spec.action)), `${where}: action ${String(spec.action)} for ${kind}`);
  assert.ok(MODES.includes(String(spec.mode)), `${where}: mode`);
  if (spec.duration !== undefined) assert.match(String(spec.duration), /^\d+(ms|s|m|h)$/, `${where}: duration`);
  if (spec.action === 'pod-failure' || kind === 'NetworkChaos') assert.ok(spec.duration, `${where}: a lasting fault needs a duration`);
  const selectors = [spec.selector, (spec.target as { selector?: unknown } | undefined)?.selector].filter((s) => s !== undefined) as { namespaces: string[]; labelSelectors: Record<string, string> }[];
  if (kind === 'NetworkChaos') assert.equal(selectors.length, 2, `${where}: a partition needs a target`);
  for (const s of selectors) {
    assert.deepEqual(s.namespaces, [namespace], `${where}: namespace`);
    const hit = pods.filter((w) => Object.entries(s.labelSelectors).every(([k, v]) => (w.spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels[k] === v));
    assert.ok(hit.length > 0, `${where}: selects no pod of the prod overlay`);
  }
}

test('every chaos experiment is well-formed Chaos Mesh, selects real Vigil pods, and is in the README with its npm run chaos scenario', () => {
  const prod = kustomize(join(root, 'infra/k8s/overlays/prod'));
  const namespace = prod[0]?.metadata.namespace ?? '';
  const pods = prod.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet');
  const dir = join(root, 'infra/chaos');
  const readme = readFileSync(join(dir, 'README.md'), 'utf8');
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
  assert.ok(files.length >= 6);
  for (const f of files) {
    assert.ok(readme.includes(`\`${f}\``), `README does not describe ${f}`);
    for (const doc of readYaml(join(dir, f)) as K8sObject[]) {
      assert.equal(doc.apiVersion, 'chaos-mesh.org/v1alpha1', f);
      assert.equal(doc.metadata.namespace, namespace, `${f}: namespace`);
      const spec = doc.spec as Record<string, unknown>;
      if (doc.kind === 'Workflow') {
        const templates = spec.templates as { name: string; templateType: string; children?: string[]; podChaos?: Record<string, unknown> }[];
        assert.ok(templates.some((t) => t.name === spec.entry), `${f}: entry`);
        for (const t of templates) {
          for (const c of t.children ?? []) assert.ok(templates.some((u) => u.name === c), `${f}: child ${c}`);
          if (t.templateType === 'PodChaos') checkChaosSpec('PodChaos', t.podChaos ?? {}, pods, namespace, `${f}/${t.name}`);
        }
      } else {
        checkChaosSpec(doc.kind, spec, pods, namespace, f);
      }
    }
  }
  const scenarios = [...readFileSync(join(root, 'bench/src/chaos/scenarios.ts'), 'utf8').matchAll(/name: '([a-z-]+)'/g)].map((m) => m[1] ?? '');
  assert.ok(scenarios.length >= 7);
  for (const s of scenarios) assert.ok(readme.includes(`\`${s}\``), `README does not map npm run chaos scenario ${s}`);
  for (const section of ['Steady state', 'Hypothesis', 'Watch', 'Pass']) assert.ok(readme.split(`**${section}:**`).length - 1 >= files.length, `each experiment has a ${section}`);
});
