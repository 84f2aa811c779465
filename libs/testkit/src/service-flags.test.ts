import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { FLAGGED_SERVICES, JEMALLOC_SERVICES, jemallocEnv, jemallocPathFor, SERVICE_MALLOC_ENV, SERVICE_NODE_FLAGS, unameMachine } from './service-flags.js';

// libs/testkit/dist/service-flags.test.js → repository root.
const root = fileURLToPath(new URL('../../../', import.meta.url));
const read = (path: string) => readFileSync(`${root}${path}`, 'utf8');
const flagsOf = (service: (typeof FLAGGED_SERVICES)[number]) => SERVICE_NODE_FLAGS[service].join(' ');
/** `K=${K:-V} …`: the malloc settings as a shell prefix that keeps an operator's own values. */
const mallocPrefix = Object.entries(SERVICE_MALLOC_ENV)
  .map(([k, v]) => `${k}=\${${k}:-${v}}`)
  .join(' ');

/** The same path as jemallocPathFor, in shell words (the machine from `uname -m`). */
const shellPath = jemallocPathFor('$(uname -m)');

test("every service's start script runs node with that service's flags and malloc settings", () => {
  for (const service of FLAGGED_SERVICES) {
    const pkg = JSON.parse(read(`services/${service}/package.json`)) as { scripts?: Record<string, string> };
    const preload = JEMALLOC_SERVICES.includes(service) ? `LD_PRELOAD=\${LD_PRELOAD-$(j=${shellPath}; [ -e $j ] && echo $j)} ` : '';
    assert.equal(pkg.scripts?.start, `${preload}${mallocPrefix} node ${flagsOf(service)} dist/main.js`, `services/${service}/package.json scripts.start`);
  }
});

test('the testkit preloads jemalloc into the jemalloc services only, when installed, unless LD_PRELOAD is already set', () => {
  const x86 = jemallocPathFor('x86_64');
  const arm = jemallocPathFor('aarch64');
  assert.equal(x86, '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2');
  assert.deepEqual(jemallocEnv('presence-authority', { env: {}, arch: 'x64', exists: (p) => p === x86 }), { LD_PRELOAD: x86 });
  assert.deepEqual(jemallocEnv('presence-authority', { env: {}, arch: 'arm64', exists: (p) => p === arm }), { LD_PRELOAD: arm });
  // The other architecture's library is never taken.
  assert.deepEqual(jemallocEnv('presence-authority', { env: {}, arch: 'x64', exists: (p) => p === arm }), {});
  assert.deepEqual(jemallocEnv('presence-authority', { env: {}, arch: 'x64', exists: () => false }), {});
  assert.deepEqual(jemallocEnv('presence-authority', { env: { LD_PRELOAD: '' }, arch: 'x64', exists: () => true }), { LD_PRELOAD: '' });
  assert.deepEqual(jemallocEnv('presence-authority', { env: { LD_PRELOAD: '/opt/m.so' }, exists: () => true }), { LD_PRELOAD: '/opt/m.so' });
  assert.deepEqual(jemallocEnv('connection-node', { env: {}, exists: () => true }), {});
  assert.equal(unameMachine('x64'), 'x86_64');
  assert.equal(unameMachine('arm64'), 'aarch64');
});

test('the shell launchers find the same library as the testkit on this machine', { skip: process.platform !== 'linux' && 'Debian multiarch paths' }, () => {
  const machine = execFileSync('uname', ['-m'], { encoding: 'utf8' }).trim();
  assert.equal(machine, unameMachine(), 'uname -m and process.arch name the same machine');
  const found = execFileSync('sh', ['-c', `j=${shellPath}; [ -e $j ] && echo $j; true`], { encoding: 'utf8' }).trim();
  assert.equal(found, jemallocEnv('presence-authority', { env: {} }).LD_PRELOAD ?? '');
});

test('the container entrypoint preloads jemalloc into the authority unless LD_PRELOAD is set, and the image installs it', () => {
  const script = read('infra/docker/vigil-entrypoint.sh');
  const guard = script.indexOf(`if [ "$service" = presence-authority ] && [ -z "\${LD_PRELOAD+set}" ]; then`);
  assert.ok(guard >= 0 && guard < script.indexOf('case "$service"'), 'the preload is decided before the services start');
  assert.ok(script.includes(`  jemalloc="${shellPath}"`), 'the entrypoint looks at the same path');
  assert.ok(script.includes('  if [ -e "$jemalloc" ]; then export LD_PRELOAD="$jemalloc"; fi'), 'and exports it when it exists');
  assert.deepEqual(JEMALLOC_SERVICES, ['presence-authority'], 'the entrypoint preloads into the authority only');
  assert.match(read('infra/docker/Dockerfile'), /apt-get install -y --no-install-recommends tini libjemalloc2/, 'the runtime image installs libjemalloc2');
  assert.ok(read('infra/local/ensure-jemalloc.sh').includes(`lib="${shellPath}"`), 'ensure-jemalloc.sh looks at the same path');
});

test("the container entrypoint starts each service with the same flags unless VIGIL_NODE_FLAGS replaces them", () => {
  const script = read('infra/docker/vigil-entrypoint.sh');
  for (const service of FLAGGED_SERVICES) {
    const variable = `node_flags_${service.replaceAll('-', '_')}`;
    const defined = new RegExp(`^${variable}="([^"]*)"$`, 'm').exec(script);
    assert.equal(defined?.[1], flagsOf(service), `${variable} in infra/docker/vigil-entrypoint.sh`);
    const line = new RegExp(`^\\s*${service}\\) exec node \\$\\{VIGIL_NODE_FLAGS-\\$${variable}\\} /app/services/${service}/dist/main\\.js "\\$@" ;;$`, 'm');
    assert.match(script, line, `${service} is started with ${variable}`);
  }
});

test('the container entrypoint exports the malloc settings unless the container sets them', () => {
  const script = read('infra/docker/vigil-entrypoint.sh');
  const exportsAt = script.indexOf('export MALLOC_');
  assert.ok(exportsAt >= 0 && exportsAt < script.indexOf('case "$service"'), 'the settings are exported before the services start');
  for (const [name, value] of Object.entries(SERVICE_MALLOC_ENV)) {
    assert.match(script, new RegExp(`^export ${name}="\\$\\{${name}:-${value}\\}"$`, 'm'), `${name} in infra/docker/vigil-entrypoint.sh`);
  }
});

test('the Kubernetes deployments start the services through the entrypoint (no command of their own)', () => {
  for (const [service, dir] of [['connection-node', 'node'], ['presence-authority', 'authority']] as const) {
    const yaml = read(`infra/k8s/base/${dir}/deployment.yaml`);
    assert.match(yaml, new RegExp(`args: \\[${service}\\]`), `${dir}/deployment.yaml runs the image with args [${service}]`);
    // A container-level `command:` would bypass the entrypoint and its flags (the preStop hook's, deeper, is not one).
    assert.doesNotMatch(yaml, /^ {10}command:/m, `${dir}/deployment.yaml must not replace the entrypoint`);
  }
});
