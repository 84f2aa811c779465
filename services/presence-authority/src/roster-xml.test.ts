import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { EMPTY_RECORD } from '@vigil/store';
import type { cluster } from '@vigil/proto';
import type { Roster, RosterItem, Subscription } from '@vigil/roster';
import { ownRosterResultXml } from './roster-xml.js';
import { typedIq } from './iq.js';
import { RosterEditor } from './roster-editor.js';
import type { AuthorityContext } from './context.js';
import type { PresenceCore } from './presence.js';
import type { SubscriptionCore } from './subscriptions.js';

/**
 * The roster get's answer as RosterEditor's element path builds it (the
 * queued path), for the iq typedIq() stands for: RosterEditor itself, with
 * a context that holds only the user's record (a get reads nothing else).
 */
async function asElements(g: cluster.RosterGet, fullJid: string | undefined, roster: Roster): Promise<string> {
  const session = fullJid === undefined ? undefined : { sessionId: 's', fullJid, nodeId: 'n', incarnation: 'i' };
  const iq = typedIq({ session, stanzaXml: '', typed: { $case: 'rosterGet', rosterGet: g } });
  assert.ok(iq !== undefined);
  const query = iq.getChildElements()[0];
  assert.ok(query !== undefined);
  const ctx = { records: { get: async () => ({ ...EMPTY_RECORD, roster }) } } as unknown as AuthorityContext;
  const editor = new RosterEditor(ctx, undefined as unknown as PresenceCore, undefined as unknown as SubscriptionCore);
  return (await editor.handleIq(iq, query, 'alice@localhost')).toString();
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

test("the roster result written as text is byte for byte the one RosterEditor builds as elements", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.record({ iqId: text, to: fc.constantFrom('', 'alice@localhost'), ver: fc.constantFrom('', '0', '3', '7'), hasVer: fc.boolean() }),
      fc.option(fc.constantFrom('alice@localhost/phone', "alice@localhost/it's"), { nil: undefined }),
      fc.nat({ max: 8 }),
      fc.array(itemArb, { maxLength: 5 }),
      async (g, fullJid, version, items) => {
        const roster: Roster = { version, items };
        assert.equal(ownRosterResultXml(g, fullJid, roster), await asElements(g, fullJid, roster));
      },
    ),
    { numRuns: 400 },
  );
});
