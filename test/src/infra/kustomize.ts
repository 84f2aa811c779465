import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

/** A Kubernetes object as rendered: plain JSON. */
export type K8sObject = Record<string, unknown> & { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> } };

interface Kustomization {
  resources?: string[];
  namespace?: string;
  images?: { name: string; newName?: string; newTag?: string }[];
  replicas?: { name: string; count: number }[];
  patches?: { path: string; target: { kind: string; name: string } }[];
}

const SUPPORTED = new Set(['apiVersion', 'kind', 'resources', 'namespace', 'images', 'replicas', 'patches']);

/**
 * The part of kustomize these manifests use, so the overlays render without
 * kubectl: resources (files and directories), namespace, images, replicas
 * and RFC 6902 patches with a kind/name target. Anything else in a
 * kustomization.yaml is refused rather than silently ignored.
 */
export function kustomize(dir: string): K8sObject[] {
  const file = join(dir, 'kustomization.yaml');
  const k = readYaml(file)[0] as Kustomization;
  for (const key of Object.keys(k)) if (!SUPPORTED.has(key)) throw new Error(`${file}: the built-in renderer does not support ${key}`);
  let objects: K8sObject[] = [];
  for (const r of k.resources ?? []) {
    const path = join(dir, r);
    objects.push(...(statSync(path).isDirectory() ? kustomize(path) : (readYaml(path) as K8sObject[])));
  }
  objects = structuredClone(objects);
  for (const p of k.patches ?? []) {
    const ops = readYaml(join(dir, p.path))[0] as JsonPatchOp[];
    const targets = objects.filter((o) => o.kind === p.target.kind && o.metadata.name === p.target.name);
    if (targets.length !== 1) throw new Error(`${file}: patch ${p.path} matches ${targets.length} objects`);
    for (const op of ops) applyOp(targets[0] as K8sObject, op, p.path);
  }
  for (const r of k.replicas ?? []) {
    const target = objects.find((o) => (o.kind === 'Deployment' || o.kind === 'StatefulSet') && o.metadata.name === r.name);
    if (!target) throw new Error(`${file}: replicas for unknown workload ${r.name}`);
    (target.spec as Record<string, unknown>).replicas = r.count;
  }
  for (const o of objects) {
    for (const c of containersOf(o)) {
      const image = String(c.image);
      const [name, tag] = image.includes(':') ? [image.slice(0, image.lastIndexOf(':')), image.slice(image.lastIndexOf(':') + 1)] : [image, undefined];
      const rule = k.images?.find((i) => i.name === name);
      if (rule) c.image = `${rule.newName ?? name}${rule.newTag ?? tag ? `:${rule.newTag ?? tag}` : ''}`;
    }
  }
  if (k.namespace !== undefined) for (const o of objects) o.metadata.namespace = k.namespace;
  return objects;
}

export function readYaml(path: string): unknown[] {
  if (!existsSync(path)) throw new Error(`${path} does not exist`);
  return parseAllDocuments(readFileSync(path, 'utf8')).map((d) => {
    if (d.errors.length > 0) throw new Error(`${path}: ${d.errors[0]?.message}`);
    return d.toJS() as unknown;
  }).filter((d) => d !== null);
}

/** Containers (init containers too) of a workload's pod template, or of a bare pod spec. */
export function containersOf(o: K8sObject): Record<string, unknown>[] {
  const spec = podSpecOf(o);
  return spec ? [...((spec.initContainers as Record<string, unknown>[] | undefined) ?? []), ...((spec.containers as Record<string, unknown>[] | undefined) ?? [])] : [];
}

export function podSpecOf(o: K8sObject): Record<string, unknown> | undefined {
  const spec = o.spec as { template?: { spec?: Record<string, unknown> } } | undefined;
  return spec?.template?.spec;
}

interface JsonPatchOp { op: 'add' | 'replace' | 'remove'; path: string; value?: unknown }

function applyOp(target: Record<string, unknown>, op: JsonPatchOp, where: string): void {
  const keys = op.path.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  const last = keys.pop();
  if (last === undefined) throw new Error(`${where}: empty path`);
  let node: unknown = target;
  for (const key of keys) {
    node = (node as Record<string, unknown>)[key];
    if (node === undefined || node === null) throw new Error(`${where}: ${op.path} does not exist`);
  }
  const parent = node as Record<string, unknown> & unknown[];
  const exists = Array.isArray(parent) ? Number(last) < parent.length : last in parent;
  if (op.op !== 'add' && !exists) throw new Error(`${where}: ${op.op} ${op.path}: no such member`);
  if (op.op === 'remove') {
    if (Array.isArray(parent)) parent.splice(Number(last), 1);
    else delete parent[last];
  } else if (Array.isArray(parent) && op.op === 'add') {
    parent.splice(last === '-' ? parent.length : Number(last), 0, op.value);
  } else {
    (parent as Record<string, unknown>)[last] = op.value;
  }
}
