export {
  type Subscription, type RosterItem, type Roster, EMPTY_ROSTER, isSubscriber, isSubscribedTo, findItem,
} from './types.js';
export {
  type SessionPresence, type Recipient, type RecipientReason, type BroadcastInput,
  broadcastRecipients, probeTargets, mayAnswerProbe, bareOf, isBlocked,
} from './presence.js';
export { type RosterView, rosterView, broadcastJids, viewMayAnswerProbe } from './roster-view.js';
export {
  type SubscriptionState, type SubscriptionStateName, type AppendixAStateName,
  NO_SUBSCRIPTION, ALL_STATES, canonicalState, stateName, stateFromName, rosterItemChanged,
  contactIsSubscriber, userIsSubscribed,
} from './subscription-state.js';
export {
  type SubscriptionStanza, type OutboundDecision, type InboundDecision, type OutboundRow, type InboundRow,
  SUBSCRIPTION_STANZAS, OUTBOUND_TABLE, INBOUND_TABLE, outbound, inbound, subscriberChange,
} from './subscription.js';
export {
  type RosterSetItem, type RosterEditCondition, type RosterEditError, type RosterEdit, type RosterSetPlan,
  type RosterSetOptions, ROSTER_SET_DEFAULTS, planRosterSet, applyEdit, removalStanzas,
} from './roster-edit.js';
