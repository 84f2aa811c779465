import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dockerIgnoreMatcher } from './dockerignore.js';

// No Docker engine runs here: what can be checked without building the image is checked statically
// (every COPY source exists and is in the build context, every workspace manifest reaches `npm ci`,
// every runtime package is in the image, the entrypoint's commands point at built files).
const root = fileURLToPath(new URL('../../../', import.meta.url));
const dockerfile = readFileSync(join(root, 'infra/docker/Dockerfile'), 'utf8');
const ignored = dockerIgnoreMatcher(readFileSync(join(root, '.dockerignore'), 'utf8'));
const entrypoint = join(root, 'infra/docker/vigil-entrypoint.sh');

interface Instruction { readonly op: string; readonly args: string; readonly stage: string }

function instructions(): Instruction[] {
  const out: Instruction[] = [];
  let stage = '';
  const logical = dockerfile.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  for (const line of logical) {
    const [op = '', ...rest] = line.split(/\s+/);
    const args = rest.join(' ');
    if (op.toUpperCase() === 'FROM') stage = /\bAS\s+(\S+)/i.exec(args)?.[1] ?? args;
    out.push({ op: op.toUpperCase(), args, stage });
  }
  return out;
}

const rootPackage = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { workspaces: string[] };
const manifest = (ws: string) => JSON.parse(readFileSync(join(root, ws, 'package.json'), 'utf8')) as { name: string; dependencies?: Record<string, string> };

test('the Dockerfile is multi-stage on a Node LTS slim image and runs as a non-root user under tini', () => {
  const ins = instructions();
  const froms = ins.filter((i) => i.op === 'FROM');
  assert.ok(froms.length >= 3, 'build, dependencies and runtime stages');
  const version = /^ARG NODE_VERSION=(\d+)$/m.exec(dockerfile)?.[1];
  assert.ok(version !== undefined && Number(version) >= 20 && Number(version) % 2 === 0, `NODE_VERSION ${version} is not an LTS line (even, >= 20)`);
  for (const f of froms) assert.match(f.args, /^(node:\$\{NODE_VERSION\}-\$\{DEBIAN\}-slim|build)\b/, f.args);
  const runtime = ins.filter((i) => i.stage === ins[ins.length - 1]?.stage);
  const user = runtime.filter((i) => i.op === 'USER').at(-1)?.args ?? '';
  assert.match(user, /^[1-9]\d*(:[1-9]\d*)?$/, 'numeric non-root USER in the runtime stage');
  const entry = runtime.find((i) => i.op === 'ENTRYPOINT')?.args ?? '';
  assert.match(entry, /"\/usr\/bin\/tini", "--"/, 'tini forwards signals and reaps children');
  assert.ok(runtime.some((i) => i.op === 'RUN' && /apt-get install .*tini/.test(i.args)));
});

test('every COPY from the build context exists and is not excluded by .dockerignore', () => {
  const copies = instructions().filter((i) => i.op === 'COPY' && !i.args.startsWith('--from'));
  assert.ok(copies.length > 0);
  for (const c of copies) {
    const parts = c.args.split(/\s+/).filter((p) => !p.startsWith('--'));
    for (const src of parts.slice(0, -1)) {
      if (src === '.') continue;
      assert.ok(existsSync(join(root, src)), `COPY source ${src} does not exist`);
      assert.ok(!ignored(src), `COPY source ${src} is excluded by .dockerignore`);
    }
  }
  // The build stage copies the whole context: sources must be in it, outputs and local state must not.
  for (const kept of ['package.json', 'package-lock.json', 'tsconfig.base.json', 'libs/telemetry/src/sdk.ts', 'services/connection-node/src/main.ts', 'proto/vigil']) {
    assert.ok(!ignored(kept), `${kept} must be in the build context`);
  }
  for (const dropped of ['node_modules', 'libs/xmpp/node_modules', 'libs/xmpp/dist', '.git', '.vigil', 'bench/results']) assert.ok(ignored(dropped), `${dropped} must stay out of the build context`);
});

test('npm ci in the image sees every workspace manifest, and the image holds every package the services import', () => {
  const deps = instructions().filter((i) => i.stage === 'deps' && i.op === 'COPY').map((i) => i.args.split(/\s+/)[0]);
  for (const ws of rootPackage.workspaces) assert.ok(deps.includes(`${ws}/package.json`), `${ws}/package.json is not copied before npm ci`);
  const assembled = /for w in ([^;]+); do/.exec(instructions().find((i) => i.stage === 'assemble' && i.op === 'RUN')?.args ?? '')?.[1]?.split(/\s+/) ?? [];
  const byName = new Map(rootPackage.workspaces.map((ws) => [manifest(ws).name, ws] as const));
  const needed = new Set<string>();
  const visit = (ws: string): void => {
    if (needed.has(ws)) return;
    needed.add(ws);
    for (const dep of Object.keys(manifest(ws).dependencies ?? {})) {
      const inner = byName.get(dep);
      if (inner) visit(inner);
    }
  };
  for (const service of ['services/presence-authority', 'services/connection-node', 'services/cli', 'services/console']) visit(service);
  assert.deepEqual([...assembled].sort(), [...needed].sort(), 'the runtime image holds exactly the services and the workspaces they depend on');
});

test('the entrypoint runs each service from a file the build produces, and refuses an unknown one', () => {
  assert.ok((statSync(entrypoint).mode & 0o111) !== 0, 'the entrypoint is executable');
  const script = readFileSync(entrypoint, 'utf8');
  // The services' V8 heap flags (${VIGIL_NODE_FLAGS-…}) may stand between node and the file.
  const targets = [...script.matchAll(/exec node (?:\$\{[^}]*\} )?(\/app\/\S+)/g)].map((m) => m[1] ?? '');
  assert.equal(targets.length, 4);
  for (const t of targets) assert.ok(existsSync(join(root, t.slice('/app/'.length))), `${t} is not built (npm run build)`);
  const help = spawnSync('sh', [entrypoint, 'help'], { encoding: 'utf8' });
  assert.equal(help.status, 0);
  assert.match(help.stdout, /connection-node \| presence-authority \| console \| vigil/);
  const unknown = spawnSync('sh', [entrypoint, 'dev-cluster'], { encoding: 'utf8' });
  assert.equal(unknown.status, 64);
  assert.match(unknown.stderr, /unknown service: dev-cluster/);
});
