import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runImport } from './scenarios/import.js';

// A smoke test, not a benchmark: the import scenario runs end to end on a
// small population and reports consistent counts. No timing bound on purpose.
test('import of 60 accounts with 6 contacts creates them all, re-imports unchanged, and reads a roster back', { timeout: 180_000 }, async () => {
  const report = await runImport({ accounts: 60, contacts: 6 });
  const m = report.metrics;
  assert.equal(m.created, 60);
  assert.equal(m.rostersChanged, 60);
  assert.equal(m.reimportUnchanged, 60);
  assert.equal(m.contactsReadBack, 6);
  assert.ok(m.importSeconds > 0 && m.reimportSeconds > 0);
  assert.equal(report.scenario, 'import');
  assert.match(report.summary, /^import: 60 accounts × 6 contacts/);
});
