import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkTrial, type Observation, type TrialInput } from './checker.js';

const contacts = new Map([
  ['a@x', new Set(['b@x', 'c@x'])],
  ['b@x', new Set(['a@x'])],
  ['c@x', new Set(['a@x'])],
  ['d@x', new Set<string>()],
]);
const fullJid = new Map([['a@x', 'a@x/r'], ['b@x', 'b@x/r'], ['c@x', 'c@x/r'], ['d@x', 'd@x/r']]);
const base = (obs: Observation[], over: Partial<TrialInput> = {}): TrialInput => ({
  contacts, fullJid, dead: new Set(['a@x']), live: new Set(['b@x', 'c@x', 'd@x']), observations: obs, faultAt: 1000,
  streamEndedAt: new Map([['a@x', 1001]]),
  finalView: new Map([['b@x', new Map([['a@x/r', 'unavailable']])], ['c@x', new Map([['a@x/r', 'unavailable']])]]),
  selfFenceMs: 2000, ...over,
});
const un = (observer: string, from: string, at: number): Observation => ({ observer, from, type: 'unavailable', at });

test('a clean trial: every contact told once, latencies measured from the fault', () => {
  const r = checkTrial(base([un('b@x', 'a@x/r', 1500), un('c@x', 'a@x/r', 1700)]));
  assert.deepEqual([r.expected, r.missing, r.duplicate, r.leaked, r.falseOffline, r.zombie, r.unconverged], [2, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual(r.latenciesMs.sort(), [500, 700]);
});

test('a contact never told is a ghost; a second copy is a duplicate', () => {
  const r = checkTrial(base([un('b@x', 'a@x/r', 1500), un('b@x', 'a@x/r', 1600)]));
  assert.equal(r.missing, 1);
  assert.equal(r.duplicate, 1);
});

test('presence reaching a non-contact is a leak; a live user announced is a false offline', () => {
  const r = checkTrial(base([un('b@x', 'a@x/r', 1500), un('c@x', 'a@x/r', 1500), un('d@x', 'a@x/r', 1500), un('a@x', 'b@x/r', 1500)]));
  assert.equal(r.leaked, 1);
  const f = checkTrial(base([un('a@x', 'c@x/r', 1400)], { live: new Set(['a@x', 'b@x', 'c@x']), dead: new Set() }));
  assert.equal(f.falseOffline, 1);
});

test('a dead user whose stream stayed up long after being announced is a zombie', () => {
  const r = checkTrial(base([un('b@x', 'a@x/r', 1500), un('c@x', 'a@x/r', 1500)], { streamEndedAt: new Map([['a@x', 4000]]) }));
  assert.equal(r.zombie, 1);
  const never = checkTrial(base([un('b@x', 'a@x/r', 1500), un('c@x', 'a@x/r', 1500)], { streamEndedAt: new Map() }));
  assert.equal(never.zombie, 1);
});

test('a frozen node cannot close streams: the zombie clock starts when it is let go', () => {
  const obs = [un('b@x', 'a@x/r', 4000), un('c@x', 'a@x/r', 4000)];
  const r = checkTrial(base(obs, { streamEndedAt: new Map([['a@x', 6500]]), resumedAt: 6000 }));
  assert.equal(r.zombie, 0);
  const slow = checkTrial(base(obs, { streamEndedAt: new Map([['a@x', 8500]]), resumedAt: 6000 }));
  assert.equal(slow.zombie, 1);
});

test('an observer whose final view disagrees with the truth has not converged', () => {
  const r = checkTrial(base([un('b@x', 'a@x/r', 1500), un('c@x', 'a@x/r', 1500)], { finalView: new Map([['b@x', new Map([['a@x/r', 'available']])]]) }));
  assert.equal(r.unconverged, 1);
});

test('a user of the fault told offline before the fault happened is a false offline, and no negative latency', () => {
  const r = checkTrial(base([un('b@x', 'a@x/r', 400), un('c@x', 'a@x/r', 1600)]));
  assert.equal(r.falseOffline, 1);
  assert.equal(r.missing, 0);
  assert.deepEqual(r.latenciesMs, [600]);
  assert.match(r.examples.join('\n'), /b@x was told a@x\/r left 600 ms before the fault/);
});
