import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { FLAGGED_SERVICES, SERVICE_MALLOC_ENV, SERVICE_NODE_FLAGS } from './service-flags.js';

// libs/testkit/dist/service-flags.test.js → repository root.
const root = fileURLToPath(new URL('../../../', import.meta.url));
const read = (path: string) => readFileSync(`${root}${path}`, 'utf8');
const flagsOf = (service: (typeof FLAGGED_SERVICES)[number]) => SERVICE_NODE_FLAGS[service].join(' ');
/** `K=${K:-V} …`: the malloc settings as a shell prefix that keeps an operator's own values. */
const mallocPrefix = Object.entries(SERVICE_MALLOC_ENV)
  .map(([k, v]) => `${k}=\${${k}:-${v}}`)
  .join(' ');

test("every service's start script runs node with that service's flags and malloc settings", () => {
  for (const service of FLAGGED_SERVICES) {
    const pkg = JSON.parse(read(`services/${service}/package.json`)) as { scripts?: Record<string, string> };
    assert.equal(pkg.scripts?.start, `${mallocPrefix} node ${flagsOf(service)} dist/main.js`, `services/${service}/package.json scripts.start`);
  }
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
