import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { el, iqResult, NS } from '@vigil/xmpp';
import type { cluster } from '@vigil/proto';
import type { Roster, RosterItem, Subscription } from '@vigil/roster';
import { itemElement, ownRosterResultXml } from './roster-xml.js';
import { typedIq } from './iq.js';

/** The roster get's answer as RosterEditor builds it, as elements, for the iq typedIq() stands for. */
function asElements(g: cluster.RosterGet, fullJid: string | undefined, roster: Roster): string {
  const session = fullJid === undefined ? undefined : { sessionId: 's', fullJid, nodeId: 'n', incarnation: 'i' };
  const iq = typedIq({ session, stanzaXml: '', typed: { $case: 'rosterGet', rosterGet: g } });
  assert.ok(iq !== undefined);
  const query = iq.getChildElements()[0];
  const ver = String(roster.version);
  if (query?.attr('ver') === ver) return iqResult(iq).toString();
  return iqResult(iq, el('query', { xmlns: NS.roster, ver }, ...roster.items.map(itemElement))).toString();
}

const text = fc.oneof(fc.constantFrom('', 'Bob', "O'Brien & <co>", 'tab\there', 'cr\rlf\n', '"q"'), fc.string({ maxLength: 6 }));
const itemArb: fc.Arbitrary<RosterItem> = fc.record({
  jid: fc.constantFrom('bob@localhost', "o'b@localhost", 'c@x'),
  name: text,
  subscription: fc.constantFrom<Subscription>('none', 'to', 'from', 'both'),
  pendingOut: fc.boolean(),
  groups: fc.array(text, { maxLength: 3 }),
  approved: fc.option(fc.boolean(), { nil: undefined }),
});

test("the roster result written as text is byte for byte the one built as elements", () => {
  fc.assert(
    fc.property(
      fc.record({ iqId: text, to: fc.constantFrom('', 'alice@localhost'), ver: fc.constantFrom('', '0', '3', '7'), hasVer: fc.boolean() }),
      fc.option(fc.constantFrom('alice@localhost/phone', "alice@localhost/it's"), { nil: undefined }),
      fc.nat({ max: 8 }),
      fc.array(itemArb, { maxLength: 5 }),
      (g, fullJid, version, items) => {
        const roster: Roster = { version, items };
        assert.equal(ownRosterResultXml(g, fullJid, roster), asElements(g, fullJid, roster));
      },
    ),
    { numRuns: 400 },
  );
});
