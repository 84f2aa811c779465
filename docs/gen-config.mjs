#!/usr/bin/env node
// Rewrites the variable table in docs/configuration.md from the services'
// config modules (run after `npm run build`): `npm run docs:config`.
import { readFileSync, writeFileSync } from 'node:fs';

const node = await import('../services/connection-node/dist/config.js');
const authority = await import('../services/presence-authority/dist/config.js');
const webConsole = await import('../services/console/dist/config.js');
const computed = { VIGIL_NODE_ID: 'hostname + random suffix', VIGIL_AUTHORITY_ID: 'authority-<pid>' };
const rows = new Map();
for (const [service, list] of [['connection-node', node.describeNodeConfig()], ['presence-authority', authority.describeAuthorityConfig()], ['console', webConsole.describeConsoleConfig()]]) {
  for (const v of list) {
    const row = rows.get(v.name) ?? { ...v, services: [] };
    row.services.push(service);
    rows.set(v.name, row);
  }
}
let table = '| variable | services | default | meaning |\n|---|---|---|---|\n';
for (const r of rows.values()) {
  table += `| \`${r.name}\` | ${r.services.join(', ')} | ${computed[r.name] ?? `\`${r.default}\``} | ${r.description} |\n`;
}
const path = new URL('./configuration.md', import.meta.url);
const doc = readFileSync(path, 'utf8');
const begin = '<!-- config-table:begin -->';
const end = '<!-- config-table:end -->';
const next = doc.slice(0, doc.indexOf(begin) + begin.length) + '\n' + table + doc.slice(doc.indexOf(end));
writeFileSync(path, next);
