import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { jidsWith, jidsWithout, NO_JIDS, type SessionRecord } from './registry.js';
import { CompactSessionRecord, isBarePresenceOf } from './session-record.js';

const ids = { nodeId: 'node-1', incarnation: 'inc-1' };

// Resources with the characters that need escaping in an attribute, and ones that look like escapes.
const resource = fc.stringMatching(/^[a-z'&<>;"/ ]{1,12}$/);
const fullJid = resource.map((r) => `u@x/${r}`);

/** What a client may have sent, stamped: the bare form of this or another JID, or anything else. */
const presenceFor = (jid: string) =>
  fc.oneof(
    fc.constant(`<presence from='${jid}'/>`),
    fullJid.map((other) => `<presence from='${other}'/>`),
    fc.constant(`<presence from='${jid}'><show>away</show></presence>`),
    fc.constant(`<presence from='${jid}' type='unavailable'/>`),
    fc.constant(`<presence from='${jid}'/> `),
    fc.constant(''),
    fc.string(),
  );

test('a compact record reads back every value written to it, like a plain record', () => {
  const write = (jid: string) =>
    fc.oneof(
      fc.record({ k: fc.constant('available' as const), v: fc.boolean() }),
      fc.record({ k: fc.constant('presenceXml' as const), v: presenceFor(jid) }),
      fc.record({ k: fc.constant('priority' as const), v: fc.integer({ min: -128, max: 127 }) }),
      fc.record({ k: fc.constant('presenceSeq' as const), v: fc.nat() }),
      fc.record({
        k: fc.constant('availableSinceUnixMs' as const),
        v: fc.oneof(
          fc.integer({ min: 0, max: 2 ** 45 }),
          fc.constantFrom(0, 1, 2 ** 30 - 1, 2 ** 30, 8191 * 2 ** 30 - 1, 8191 * 2 ** 30, Number.MAX_SAFE_INTEGER, -1, 0.5, 1_764_480_000_123),
          fc.double({ noNaN: true }).map((x) => (x === 0 ? 0 : x)), // -0 reads back as 0
        ),
      }),
      fc.record({ k: fc.constant('directedAdd' as const), v: fc.constantFrom('a@x', 'b@x') }),
      fc.record({ k: fc.constant('directedRemove' as const), v: fc.constantFrom('a@x', 'b@x') }),
      fc.record({ k: fc.constant('errorAdd' as const), v: fc.constantFrom('a@x', 'b@x') }),
      fc.record({ k: fc.constant('errorRemove' as const), v: fc.constantFrom('a@x', 'b@x') }),
      fc.record({ k: fc.constant('directedReset' as const), v: fc.constant(0) }),
    );
  fc.assert(
    fc.property(
      fullJid.chain((jid) => fc.tuple(fc.constant(jid), fc.integer({ min: 0, max: 65535 }), fc.array(write(jid), { maxLength: 30 }))),
      ([jid, shard, writes]) => {
        const compact: SessionRecord = new CompactSessionRecord('s1', jid, 'u@x', shard, ids);
        const plain: SessionRecord = {
          sessionId: 's1', fullJid: jid, bareJid: 'u@x', shard, nodeId: ids.nodeId, incarnation: ids.incarnation,
          available: false, presenceXml: '', priority: 0, presenceSeq: 0, availableSinceUnixMs: 0,
          directedTo: NO_JIDS, presenceErrorsFrom: NO_JIDS,
        };
        for (const w of writes) {
          for (const r of [compact, plain]) {
            switch (w.k) {
              case 'directedAdd': r.directedTo = jidsWith(r.directedTo, w.v); break;
              case 'directedRemove': r.directedTo = jidsWithout(r.directedTo, w.v); break;
              case 'errorAdd': r.presenceErrorsFrom = jidsWith(r.presenceErrorsFrom, w.v); break;
              case 'errorRemove': r.presenceErrorsFrom = jidsWithout(r.presenceErrorsFrom, w.v); break;
              case 'directedReset': r.directedTo = NO_JIDS; break;
              default: (r as unknown as Record<string, unknown>)[w.k] = w.v;
            }
          }
          // Sets are copied per record above only when new; compare contents.
          for (const key of ['sessionId', 'fullJid', 'bareJid', 'shard', 'nodeId', 'incarnation', 'available', 'presenceXml', 'priority', 'presenceSeq', 'availableSinceUnixMs'] as const) {
            assert.equal(compact[key], plain[key], key);
          }
          assert.deepEqual([...compact.directedTo], [...plain.directedTo]);
          assert.deepEqual([...compact.presenceErrorsFrom], [...plain.presenceErrorsFrom]);
          assert.equal(compact.directedTo === NO_JIDS, plain.directedTo === NO_JIDS);
          assert.equal(compact.presenceErrorsFrom === NO_JIDS, plain.presenceErrorsFrom === NO_JIDS);
        }
      },
    ),
  );
});

test('only the exact bare presence of the record\'s own full JID is left to be rebuilt', () => {
  assert.ok(isBarePresenceOf("<presence from='u@x/r'/>", 'u@x/r'));
  assert.ok(!isBarePresenceOf("<presence from='u@x/rr'/>", 'u@x/r'));
  assert.ok(!isBarePresenceOf("<presence from='u@x/r' />", 'u@x/r'));
  assert.ok(!isBarePresenceOf('<presence from="u@x/r"/>', 'u@x/r'));
  assert.ok(!isBarePresenceOf("<presence from='u@x/r'><show>dnd</show></presence>", 'u@x/r'));
  // An escaped attribute is not the raw JID: kept as sent, so it reads back as sent.
  const r = new CompactSessionRecord('s', "u@x/a'b", 'u@x', 0, ids);
  r.presenceXml = "<presence from='u@x/a&apos;b'/>";
  assert.equal(r.presenceXml, "<presence from='u@x/a&apos;b'/>");
});

test('a shard outside what the configuration allows is refused by name', () => {
  assert.throws(() => new CompactSessionRecord('s', 'u@x/r', 'u@x', 65536, ids), /shard must be an integer/);
  assert.throws(() => new CompactSessionRecord('s', 'u@x/r', 'u@x', -1, ids), /shard must be an integer/);
});
