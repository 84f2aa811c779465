import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { FLAGGED_SERVICES, JEMALLOC_PATHS, JEMALLOC_SERVICES, jemallocEnv, SERVICE_MALLOC_ENV, SERVICE_NODE_FLAGS } from './service-flags.js';

// libs/testkit/dist/service-flags.test.js → repository root.
const root = fileURLToPath(new URL('../../../', import.meta.url));
const read = (path: string) => readFileSync(`${root}${path}`, 'utf8');
const flagsOf = (service: (typeof FLAGGED_SERVICES)[number]) => SERVICE_NODE_FLAGS[service].join(' ');
/** `K=${K:-V} …`: the malloc settings as a shell prefix that keeps an operator's own values. */
const mallocPrefix = Object.entries(SERVICE_MALLOC_ENV)
  .map(([k, v]) => `${k}=\${${k}:-${v}}`)
  .join(' ');

/** The shell words that print the first JEMALLOC_PATHS entry that exists (nothing if none does). */
const findJemalloc = `ls ${JEMALLOC_PATHS.join(' ')} 2>/dev/null | head -n 1`;

test("every service's start script runs node with that service's flags and malloc settings", () => {
  for (const service of FLAGGED_SERVICES) {
    const pkg = JSON.parse(read(`services/${service}/package.json`)) as { scripts?: Record<string, string> };
    const preload = JEMALLOC_SERVICES.includes(service) ? `LD_PRELOAD=\${LD_PRELOAD-$(${findJemalloc})} ` : '';
    assert.equal(pkg.scripts?.start, `${preload}${mallocPrefix} node ${flagsOf(service)} dist/main.js`, `services/${service}/package.json scripts.start`);
  }
});

test('the testkit preloads the first jemalloc that exists, into the jemalloc services only', () => {
  const second = JEMALLOC_PATHS[1] as string;
  assert.deepEqual(jemallocEnv('presence-authority', (p) => p === second), { LD_PRELOAD: second });
  assert.deepEqual(jemallocEnv('presence-authority', () => true), { LD_PRELOAD: JEMALLOC_PATHS[0] });
  assert.deepEqual(jemallocEnv('presence-authority', () => false), {});
  assert.deepEqual(jemallocEnv('connection-node', () => true), {});
});

test('the container entrypoint preloads jemalloc into the authority unless LD_PRELOAD is set, and the image installs it', () => {
  const script = read('infra/docker/vigil-entrypoint.sh');
  const guard = script.indexOf(`if [ "$service" = presence-authority ] && [ -z "\${LD_PRELOAD+set}" ]; then`);
  assert.ok(guard >= 0 && guard < script.indexOf('case "$service"'), 'the preload is decided before the services start');
  assert.ok(script.includes(`  jemalloc="$(${findJemalloc})"`), 'the entrypoint looks for the same files');
  assert.ok(script.includes('  [ -n "$jemalloc" ] && export LD_PRELOAD="$jemalloc"'), 'and exports the one it found');
  assert.deepEqual(JEMALLOC_SERVICES, ['presence-authority'], 'the entrypoint preloads into the authority only');
  assert.match(read('infra/docker/Dockerfile'), /apt-get install -y --no-install-recommends tini libjemalloc2/, 'the runtime image installs libjemalloc2');
  assert.ok(read('infra/local/ensure-jemalloc.sh').includes(`paths="${JEMALLOC_PATHS.join(' ')}"`), 'ensure-jemalloc.sh looks for the same files');
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
