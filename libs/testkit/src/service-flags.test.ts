import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { FLAGGED_SERVICES, SERVICE_NODE_FLAGS } from './service-flags.js';

// libs/testkit/dist/service-flags.test.js → repository root.
const root = fileURLToPath(new URL('../../../', import.meta.url));
const read = (path: string) => readFileSync(`${root}${path}`, 'utf8');
const flags = SERVICE_NODE_FLAGS.join(' ');

test("every service's start script runs node with the service flags", () => {
  for (const service of FLAGGED_SERVICES) {
    const pkg = JSON.parse(read(`services/${service}/package.json`)) as { scripts?: Record<string, string> };
    assert.equal(pkg.scripts?.start, `node ${flags} dist/main.js`, `services/${service}/package.json scripts.start`);
  }
});

test("the container entrypoint's default VIGIL_NODE_FLAGS is the same list, used for both services only", () => {
  const script = read('infra/docker/vigil-entrypoint.sh');
  assert.match(script, new RegExp(`^: "\\$\\{VIGIL_NODE_FLAGS=${flags.replace(/[-]/g, '\\-')}\\}"$`, 'm'));
  for (const service of FLAGGED_SERVICES) {
    assert.match(script, new RegExp(`^\\s*${service}\\) exec node \\$VIGIL_NODE_FLAGS /app/services/${service}/dist/main\\.js "\\$@" ;;$`, 'm'), service);
  }
  assert.doesNotMatch(script, /cli\/bin\/vigil\.js.*VIGIL_NODE_FLAGS|VIGIL_NODE_FLAGS.*cli\/bin/);
});

test('the Kubernetes deployments start the services through the entrypoint (no command of their own)', () => {
  for (const [service, file] of [['connection-node', 'node'], ['presence-authority', 'authority']] as const) {
    const yaml = read(`infra/k8s/base/${file}/deployment.yaml`);
    assert.match(yaml, new RegExp(`args: \\[${service}\\]`), `${file}/deployment.yaml runs the image with args [${service}]`);
    // A container `command:` would bypass the entrypoint and its flags (the preStop hook's command is not one).
    const containerCommand = /^ {10}command:/m;
    assert.doesNotMatch(yaml, containerCommand, `${file}/deployment.yaml must not replace the entrypoint`);
    assert.doesNotMatch(yaml, /NODE_OPTIONS[^\n]*optimize-for-size/, 'Node refuses --optimize-for-size in NODE_OPTIONS');
  }
});
