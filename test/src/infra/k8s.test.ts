import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { readNodeConfig } from '@vigil/connection-node';
import { readAuthorityConfig } from '@vigil/presence-authority';
import { containersOf, kustomize, podSpecOf, readYaml, type K8sObject } from './kustomize.js';

// infra/k8s: every overlay renders (with the built-in renderer, and with `kubectl kustomize` when
// present, which must agree), every object is valid against the Kubernetes schemas (kubernetes-models;
// the ServiceMonitor, a CRD, structurally), and what the manifests promise the services matches what the
// services really read: variable names, values their config modules accept, ports, probe paths.
const root = fileURLToPath(new URL('../../../', import.meta.url));
const OVERLAYS = ['dev', 'prod'] as const;
const overlayDir = (o: string) => join(root, 'infra/k8s/overlays', o);
const SERVICE_OF_CONTAINER = { 'connection-node': 'connection-node', 'presence-authority': 'presence-authority' } as const;
type Container = Record<string, unknown> & { name: string; env?: EnvVar[]; envFrom?: { configMapRef?: { name: string } }[]; ports?: { name: string; containerPort: number }[] };
type EnvVar = { name: string; value?: string; valueFrom?: unknown };

/** Read by Node.js itself, not by a config module. */
const RUNTIME_VARIABLES = new Set(['NODE_OPTIONS']);

const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status === 0;

/** docs/configuration.md's table: variable → services that read it (generated from the config modules). */
function documentedVariables(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const m of readFileSync(join(root, 'docs/configuration.md'), 'utf8').matchAll(/^\| `([A-Z0-9_]+)` \| ([a-z, -]+) \|/gm)) {
    out.set(m[1] ?? '', (m[2] ?? '').split(',').map((s) => s.trim()));
  }
  return out;
}

const byKind = (objects: K8sObject[], kind: string) => objects.filter((o) => o.kind === kind);
const find = (objects: K8sObject[], kind: string, name: string): K8sObject => objects.find((o) => o.kind === kind && o.metadata.name === name) ?? assert.fail(`no ${kind} ${name}`);
const labelsMatch = (selector: Record<string, string> | undefined, labels: Record<string, string> | undefined) =>
  selector !== undefined && Object.entries(selector).every(([k, v]) => labels?.[k] === v);
const podLabels = (o: K8sObject) => ((o.spec as { template?: { metadata?: { labels?: Record<string, string> } } }).template?.metadata?.labels);
const workloads = (objects: K8sObject[]) => objects.filter((o) => ['Deployment', 'StatefulSet'].includes(o.kind));

/** The environment a container starts with: its ConfigMaps, then its own env; a pod-name fieldRef becomes a sample name. */
function environmentOf(objects: K8sObject[], c: Container): Record<string, string> {
  const env: Record<string, string> = {};
  for (const from of c.envFrom ?? []) {
    const cm = find(objects, 'ConfigMap', from.configMapRef?.name ?? '');
    Object.assign(env, cm.data as Record<string, string>);
  }
  for (const e of c.env ?? []) env[e.name] = e.value ?? (JSON.stringify(e.valueFrom).includes('metadata.name') ? 'connection-node-7d9f8c6b5-x2x4z' : '');
  return env;
}

for (const overlay of OVERLAYS) {
  describe(`infra/k8s overlay ${overlay}`, () => {
    let objects: K8sObject[];
    let scratch: string;

    before(() => {
      objects = kustomize(overlayDir(overlay));
      scratch = mkdtempSync(join(tmpdir(), 'vigil-k8s-'));
    });
    after(() => rmSync(scratch, { recursive: true, force: true }));

    test('renders the whole deployment into one namespace', () => {
      const kinds = new Set(objects.map((o) => o.kind));
      for (const k of ['StatefulSet', 'Deployment', 'Service', 'ConfigMap', 'PodDisruptionBudget', 'HorizontalPodAutoscaler', 'NetworkPolicy', 'ServiceMonitor', 'PrometheusRule']) assert.ok(kinds.has(k), `no ${k}`);
      assert.equal(new Set(objects.map((o) => o.metadata.namespace)).size, 1);
      const names = objects.map((o) => `${o.kind}/${o.metadata.name}`);
      assert.equal(new Set(names).size, names.length, 'no object twice');
    });

    test('kubectl kustomize renders the same objects', { skip: kubectl ? false : 'kubectl is not installed: only the built-in renderer ran' }, () => {
      const r = spawnSync('kubectl', ['kustomize', overlayDir(overlay)], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
      assert.equal(r.status, 0, r.stderr);
      const theirs = parseAllDocuments(r.stdout).map((d) => d.toJS() as K8sObject).filter((o) => o !== null);
      const key = (o: K8sObject) => `${o.kind}/${o.metadata.name}`;
      assert.deepEqual(new Set(theirs.map(key)), new Set(objects.map(key)));
      for (const o of theirs) assert.deepEqual(o, objects.find((m) => key(m) === key(o)), key(o));
    });

    test('every object is valid against the Kubernetes schemas; the ServiceMonitor has what the operator needs, the PrometheusRule holds the tested rules', async () => {
      for (const o of objects) {
        if (o.kind === 'PrometheusRule') {
          assert.equal(o.apiVersion, 'monitoring.coreos.com/v1');
          // The same rules promtool tests in infra/observability, word for word.
          assert.deepEqual(o.spec, readYaml(join(root, 'infra/observability/alerts.yaml'))[0], 'PrometheusRule spec differs from infra/observability/alerts.yaml');
          continue;
        }
        if (o.apiVersion === 'monitoring.coreos.com/v1') {
          assert.equal(o.kind, 'ServiceMonitor');
          const spec = o.spec as { selector?: { matchLabels?: Record<string, string> }; endpoints?: { port?: string; path?: string }[] };
          assert.ok(spec.selector?.matchLabels && spec.endpoints && spec.endpoints.length > 0, 'selector and endpoints');
          continue;
        }
        const module = `kubernetes-models/${o.apiVersion}`;
        const models = (await import(module)) as Record<string, new (data: unknown) => { validate(): void }>;
        const Model = models[o.kind] ?? assert.fail(`${module} has no ${o.kind}`);
        assert.doesNotThrow(() => new Model(o).validate(), `${o.kind}/${o.metadata.name}`);
      }
    });

    test('selectors select: workloads their pods, Services and PDBs some pods, the HPA its Deployment', () => {
      const pods = workloads(objects);
      for (const w of pods) assert.ok(labelsMatch((w.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels, podLabels(w)), `${w.metadata.name}: selector`);
      for (const s of byKind(objects, 'Service')) {
        const sel = (s.spec as { selector: Record<string, string> }).selector;
        const targets = pods.filter((w) => labelsMatch(sel, podLabels(w)));
        assert.ok(targets.length > 0, `Service ${s.metadata.name} selects no pod`);
        for (const p of (s.spec as { ports: { name: string; targetPort: string | number }[] }).ports) {
          for (const w of targets) {
            const names = containersOf(w).flatMap((c) => ((c as Container).ports ?? []).map((cp) => cp.name));
            assert.ok(names.includes(String(p.targetPort)), `Service ${s.metadata.name} port ${p.name}: ${w.metadata.name} has no port ${p.targetPort}`);
          }
        }
      }
      for (const pdb of byKind(objects, 'PodDisruptionBudget')) {
        assert.ok(pods.some((w) => labelsMatch((pdb.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels, podLabels(w))), `PDB ${pdb.metadata.name}`);
      }
      for (const hpa of byKind(objects, 'HorizontalPodAutoscaler')) {
        const ref = (hpa.spec as { scaleTargetRef: { kind: string; name: string } }).scaleTargetRef;
        find(objects, ref.kind, ref.name);
      }
      const monitor = byKind(objects, 'ServiceMonitor')[0] as K8sObject;
      const spec = monitor.spec as { selector: { matchLabels: Record<string, string> }; endpoints: { port: string }[] };
      const scraped = byKind(objects, 'Service').filter((s) => labelsMatch(spec.selector.matchLabels, s.metadata.labels));
      assert.deepEqual(scraped.map((s) => s.metadata.name).sort(), ['connection-node-metrics', 'presence-authority']);
      for (const s of scraped) assert.ok((s.spec as { ports: { name: string }[] }).ports.some((p) => p.name === spec.endpoints[0]?.port));
    });

    test('every variable set for a Vigil container is one its service reads (docs/configuration.md)', () => {
      const documented = documentedVariables();
      for (const w of workloads(objects)) {
        for (const c of containersOf(w) as Container[]) {
          const service = SERVICE_OF_CONTAINER[c.name as keyof typeof SERVICE_OF_CONTAINER];
          if (!service) continue;
          for (const name of Object.keys(environmentOf(objects, c))) {
            if (RUNTIME_VARIABLES.has(name)) continue;
            assert.ok(documented.get(name)?.includes(service), `${c.name} sets ${name}, which ${service} does not read`);
          }
        }
      }
    });

    test("the services' own config modules accept the environment, and ports and probes agree with it", () => {
      const node = containersOf(find(objects, 'Deployment', 'connection-node'))[0] as Container;
      const nodeEnv = environmentOf(objects, node);
      const nodeConfig = readNodeConfig(nodeEnv);
      const authority = containersOf(find(objects, 'Deployment', 'presence-authority'))[0] as Container;
      const authorityEnv = environmentOf(objects, authority);
      // The token file is a mounted Secret: stand in a sample with the same format.
      const tokens = join(scratch, 'tokens');
      writeFileSync(tokens, 'backend:admin:0123456789abcdef0123\n');
      const authorityConfig = readAuthorityConfig({ ...authorityEnv, VIGIL_GRPC_TOKENS_FILE: tokens });

      const port = (c: Container, name: string) => c.ports?.find((p) => p.name === name)?.containerPort ?? assert.fail(`${c.name} has no port ${name}`);
      assert.equal(port(node, 'xmpp'), nodeConfig.c2sPort);
      assert.equal(port(node, 'xmpps'), nodeConfig.c2sTlsPort);
      assert.equal(port(node, 'websocket'), nodeConfig.wsPort);
      assert.equal(port(node, 'metrics'), nodeConfig.telemetry.httpPort);
      assert.equal(port(authority, 'grpc'), authorityConfig.grpc.port);
      assert.equal(port(authority, 'metrics'), authorityConfig.telemetry.httpPort);
      for (const host of [nodeConfig.c2sHost, nodeConfig.telemetry.httpHost, authorityConfig.grpc.host, authorityConfig.telemetry.httpHost]) assert.equal(host, '0.0.0.0');
      assert.equal(authorityConfig.kvReplicas, 3, 'buckets replicated on all three NATS servers');
      assert.equal(nodeConfig.natsUrl.join(), authorityConfig.natsUrl.join());
      const natsPort = Number(new URL(nodeConfig.natsUrl[0] ?? '').port);
      const natsService = find(objects, 'Service', new URL(nodeConfig.natsUrl[0] ?? '').hostname);
      assert.ok((natsService.spec as { ports: { port: number }[] }).ports.some((p) => p.port === natsPort), 'VIGIL_NATS_URL names the NATS Service and its port');

      for (const c of [node, authority]) {
        const probe = (k: string) => (c[k] as { httpGet?: { path: string; port: string } } | undefined)?.httpGet ?? assert.fail(`${c.name} has no ${k}`);
        assert.deepEqual(probe('livenessProbe'), { path: '/livez', port: 'metrics' });
        assert.deepEqual(probe('readinessProbe'), { path: '/readyz', port: 'metrics' });
        assert.deepEqual(probe('startupProbe'), { path: '/readyz', port: 'metrics' });
      }
      // Files the config names are inside mounted volumes.
      const mounts = (c: Container) => (c.volumeMounts as { mountPath: string }[]).map((m) => m.mountPath);
      for (const file of [nodeConfig.tls?.certFile, nodeConfig.tls?.keyFile]) assert.ok(mounts(node).some((m) => file?.startsWith(`${m}/`)), `${file} is not mounted`);
      assert.ok(mounts(authority).some((m) => authorityEnv.VIGIL_GRPC_TOKENS_FILE?.startsWith(`${m}/`)));
    });

    test('pods run as non-root with a read-only root file system, requests and limits, and a drain before SIGTERM', () => {
      for (const w of workloads(objects)) {
        const spec = podSpecOf(w) ?? assert.fail('no pod spec');
        assert.equal((spec.securityContext as { runAsNonRoot?: boolean }).runAsNonRoot, true, w.metadata.name);
        assert.ok(Number(spec.terminationGracePeriodSeconds) >= 30, `${w.metadata.name}: termination grace`);
        assert.ok(spec.topologySpreadConstraints, `${w.metadata.name}: topology spread`);
        for (const c of containersOf(w)) {
          const sc = c.securityContext as { readOnlyRootFilesystem?: boolean; allowPrivilegeEscalation?: boolean };
          assert.equal(sc.readOnlyRootFilesystem, true);
          assert.equal(sc.allowPrivilegeEscalation, false);
          const res = c.resources as { requests?: { cpu?: string; memory?: string }; limits?: { memory?: string } };
          assert.ok(res.requests?.cpu && res.requests.memory && res.limits?.memory, `${w.metadata.name}: requests and limits`);
        }
      }
      const node = containersOf(find(objects, 'Deployment', 'connection-node'))[0] as Container;
      assert.ok((node.lifecycle as { preStop?: unknown } | undefined)?.preStop, 'the node drains from the load balancer before SIGTERM');
      const authority = find(objects, 'Deployment', 'presence-authority');
      assert.equal((authority.spec as { replicas: number }).replicas, 3);
      assert.ok(JSON.stringify(podSpecOf(authority)?.affinity).includes('podAntiAffinity'));
      const nats = find(objects, 'StatefulSet', 'nats');
      assert.equal((nats.spec as { replicas: number }).replicas, 3);
      const conf = String((find(objects, 'ConfigMap', 'nats-config').data as Record<string, string>)['nats.conf']);
      for (const i of [0, 1, 2]) assert.ok(conf.includes(`nats://nats-${i}.nats-headless:6222`), `route to nats-${i}`);
      assert.match(conf, /jetstream \{[^}]*store_dir: \/data\/jetstream/);
      const lb = find(objects, 'Service', 'connection-node');
      assert.equal((lb.spec as { type: string }).type, overlay === 'prod' ? 'LoadBalancer' : 'NodePort');
      assert.equal((find(objects, 'Service', 'presence-authority').spec as { clusterIP: string }).clusterIP, 'None', 'headless for client-side balancing');
    });

    test('network policies deny by default and name only ports the selected pods have', () => {
      const policies = byKind(objects, 'NetworkPolicy');
      assert.ok(policies.some((p) => Object.keys((p.spec as { podSelector: object }).podSelector).length === 0 && JSON.stringify(p.spec).includes('"Ingress","Egress"')));
      for (const p of policies) {
        const sel = (p.spec as { podSelector: { matchLabels?: Record<string, string> } }).podSelector.matchLabels;
        if (!sel) continue;
        const pods = workloads(objects).filter((w) => labelsMatch(sel, podLabels(w)));
        assert.ok(pods.length > 0, `${p.metadata.name} selects nothing`);
        const ports = pods.flatMap((w) => containersOf(w).flatMap((c) => ((c as Container).ports ?? []).map((cp) => cp.name)));
        for (const rule of ((p.spec as { ingress?: { ports?: { port: string | number }[] }[] }).ingress ?? [])) {
          for (const rp of rule.ports ?? []) if (typeof rp.port === 'string') assert.ok(ports.includes(rp.port), `${p.metadata.name}: no port ${rp.port}`);
        }
      }
    });

    test('every Secret the pods mount is one the README tells operators to create', () => {
      const readme = readFileSync(join(root, 'infra/k8s/README.md'), 'utf8');
      const secrets = workloads(objects).flatMap((w) => ((podSpecOf(w)?.volumes as { secret?: { secretName: string } }[] | undefined) ?? []).flatMap((v) => (v.secret ? [v.secret.secretName] : [])));
      assert.deepEqual([...new Set(secrets)].sort(), ['vigil-grpc-tokens', 'vigil-tls']);
      for (const s of secrets) assert.match(readme, new RegExp(`kubectl (-n \\S+ )?create secret \\S+ ${s} `), `README does not say how to create ${s}`);
    });
  });
}
