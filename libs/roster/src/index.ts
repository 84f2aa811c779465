export {
  type Subscription, type RosterItem, type Roster, EMPTY_ROSTER, isSubscriber, isSubscribedTo, findItem,
} from './types.js';
export {
  type SessionPresence, type Recipient, type RecipientReason, type BroadcastInput,
  broadcastRecipients, probeTargets, mayAnswerProbe, bareOf,
} from './presence.js';
