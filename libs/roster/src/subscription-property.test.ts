import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  ALL_STATES, NO_SUBSCRIPTION, SUBSCRIPTION_STANZAS, contactIsSubscriber, inbound, outbound,
  rosterItemChanged, stateFromName, stateName, userIsSubscribed,
  type SubscriptionStanza, type SubscriptionState,
} from './index.js';

const stanza = fc.constantFrom<SubscriptionStanza>(...SUBSCRIPTION_STANZAS);
const anyState = fc.constantFrom(...ALL_STATES);

test('only the user, or the user’s pre-approval, ever makes a contact a subscriber', () => {
  const step = fc.record({ direction: fc.constantFrom('out' as const, 'in' as const), stanza });
  fc.assert(
    fc.property(anyState, fc.array(step, { maxLength: 30 }), (start, steps) => {
      let state: SubscriptionState = start;
      for (const { direction, stanza: s } of steps) {
        const d = direction === 'out' ? outbound(state, s) : inbound(state, s);
        if (!contactIsSubscriber(state) && contactIsSubscriber(d.state)) {
          const byUser = direction === 'out' && s === 'subscribed' && state.pendingIn;
          const preApproved = direction === 'in' && s === 'subscribe' && state.approved;
          assert.ok(byUser || preApproved, `${stateName(state)} --${direction} ${s}--> ${stateName(d.state)}`);
        }
        assert.equal(d.push, rosterItemChanged(state, d.state));
        assert.deepEqual(stateFromName(stateName(d.state)), d.state, 'results are always one of the twelve states');
        state = d.state;
      }
    }),
  );
});

/**
 * Two accounts on servers that both follow the tables, with reliable,
 * in-order delivery: every stanza a server routes is processed inbound by the
 * other side, and any auto-reply comes back the same way. Whatever the two
 * users send, their views of the relationship never disagree.
 */
test('two servers following the tables always agree on who is subscribed to whom', () => {
  const action = fc.record({ actor: fc.constantFrom(0, 1), stanza });
  fc.assert(
    fc.property(fc.array(action, { maxLength: 40 }), (actions) => {
      const view: [SubscriptionState, SubscriptionState] = [NO_SUBSCRIPTION, NO_SUBSCRIPTION];
      for (const { actor, stanza: s } of actions) {
        const peer = actor === 0 ? 1 : 0;
        const out = outbound(view[actor], s);
        view[actor] = out.state;
        if (out.route) {
          const received = inbound(view[peer], s);
          view[peer] = received.state;
          if (received.autoReply !== undefined) view[actor] = inbound(view[actor], received.autoReply).state;
        }
        const [a, b] = view;
        const trace = `${stateName(a)} | ${stateName(b)}`;
        assert.equal(userIsSubscribed(a), contactIsSubscriber(b), trace);
        assert.equal(userIsSubscribed(b), contactIsSubscriber(a), trace);
        assert.equal(a.pendingOut, b.pendingIn, trace);
        assert.equal(b.pendingOut, a.pendingIn, trace);
      }
    }),
    { numRuns: 2000 },
  );
});
