import { AccountExistsError, type AccountStore } from '@vigil/store';
import { el, errorReply, iqResult, jid, JidError, StanzaError, type Element } from '@vigil/xmpp';

export const NS_REGISTER = 'jabber:iq:register';
export const NS_REGISTER_FEATURE = 'http://jabber.org/features/iq-register';

/** Shortest password accepted at registration; clients get not-acceptable below it. */
const MIN_PASSWORD_LENGTH = 4;
const MAX_PASSWORD_LENGTH = 1024;

/**
 * XEP-0077 in-band registration (off unless VIGIL_ALLOW_REGISTRATION): before
 * authentication a client may ask for the form and create an account; after
 * it, change its password. Returns the reply to write.
 */
export async function handleRegistration(
  iq: Element,
  query: Element,
  accounts: AccountStore,
  domain: string,
  iterations: number,
  authenticatedAs?: string,
): Promise<Element> {
  try {
    const type = iq.attr('type');
    if (type === 'get') {
      // XEP-0077 §3.1: the fields to fill (registered users see theirs as registered).
      return iqResult(
        iq,
        el('query', { xmlns: NS_REGISTER },
          authenticatedAs !== undefined ? el('registered') : el('instructions', {}, 'Choose a username and password.'),
          el('username', {}, authenticatedAs ?? ''),
          el('password')),
      );
    }
    if (type !== 'set') throw new StanzaError('bad-request', 'modify');
    // After login the removal is the node's (IqHandler): here, before it, there is no account to remove.
    if (query.getChild('remove')) throw new StanzaError('not-allowed', 'cancel', 'log in to remove your account');
    const username = query.getChildText('username')?.trim() ?? '';
    const password = query.getChildText('password') ?? '';
    if (username === '' || password.length < MIN_PASSWORD_LENGTH || password.length > MAX_PASSWORD_LENGTH) {
      throw new StanzaError('not-acceptable', 'modify', `a username and a password of ${MIN_PASSWORD_LENGTH}-${MAX_PASSWORD_LENGTH} characters are required`);
    }
    let local: string;
    try {
      local = jid(username, domain).local;
    } catch (e) {
      if (e instanceof JidError) throw new StanzaError('jid-malformed', 'modify', `not a valid username: ${e.message}`);
      throw e;
    }
    if (authenticatedAs !== undefined) {
      // XEP-0077 §3.3: a password change names the account it is for.
      if (local !== authenticatedAs) throw new StanzaError('not-allowed', 'cancel', 'you can change only your own password');
      await accounts.setPassword(local, password, iterations);
      return iqResult(iq);
    }
    try {
      await accounts.create(local, password, iterations);
    } catch (e) {
      if (e instanceof AccountExistsError) throw new StanzaError('conflict', 'cancel', 'that username is taken');
      throw e;
    }
    return iqResult(iq);
  } catch (e) {
    if (e instanceof StanzaError) return errorReply(iq, e, domain);
    throw e;
  }
}
