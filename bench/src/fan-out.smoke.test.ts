import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runFanOut, type FanOutMode } from './scenarios/fan-out.js';

// Smoke tests, not benchmarks: each fan-out scenario (node-crash,
// node-freeze, mass-disconnect) runs end to end at a tiny size and accounts
// for every expected unavailable stanza. No timing bound.
for (const mode of ['kill', 'stop', 'disconnect'] as const satisfies readonly FanOutMode[]) {
  test(`fan-out (${mode}) with 20 victims × 4 contacts: all 80 unavailable stanzas arrive, none missing, duplicate or unexpected`, { timeout: 240_000 }, async () => {
    const report = await runFanOut({ mode, victims: 20, contacts: 4, observers: 10 });
    const m = report.metrics;
    assert.equal(report.params.expected, 80);
    assert.equal(m.delivered, 80);
    assert.equal(m.missing, 0);
    assert.equal(m.duplicate, 0);
    assert.equal(m.unexpected, 0);
    assert.ok(m.lastMs !== null && m.firstMs !== null && m.firstMs <= m.lastMs, `first ${m.firstMs} ≤ last ${m.lastMs}`);
  });
}
