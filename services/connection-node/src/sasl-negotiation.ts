import {
  el, jid, parsePlain, saslFailureXml, verifyPassword, NS, SaslFailure, ScramServerSession,
  type Element, type ScramHash,
} from '@vigil/xmpp';
import type { CredentialSource } from './credentials.js';

export type Mechanism = 'SCRAM-SHA-256' | 'SCRAM-SHA-1' | 'PLAIN';

const SCRAM_HASH: Partial<Record<Mechanism, ScramHash>> = { 'SCRAM-SHA-256': 'sha256', 'SCRAM-SHA-1': 'sha1' };

/** What the stream should do after one SASL element (RFC 6120 §6.4). */
export type SaslStep =
  | { readonly kind: 'reply'; readonly xml: string }
  | { readonly kind: 'success'; readonly xml: string; readonly username: string }
  | { readonly kind: 'failure'; readonly xml: string; readonly condition: string; readonly username?: string };

/**
 * One stream's SASL negotiation: which mechanisms it offers and the state of
 * the exchange in progress. Credentials are read from KV by localpart.
 */
export class SaslNegotiation {
  #scram: ScramServerSession | undefined;
  #scramStarted = false;

  constructor(
    private readonly accounts: CredentialSource,
    private readonly domain: string,
    readonly mechanisms: readonly Mechanism[],
    /** Iteration count shown for unknown users: the one real accounts use, so i= reveals nothing. */
    private readonly scramIterations: number,
    /** Refuses an attempt at a locked account before any password is checked. */
    private readonly isLocked: (username: string) => boolean = () => false,
  ) {}

  featuresElement(): Element {
    return el('mechanisms', { xmlns: NS.sasl }, ...this.mechanisms.map((m) => el('mechanism', {}, m)));
  }

  /** Handles <auth/>, <response/> or <abort/>; never throws for client mistakes. */
  async step(stanza: Element): Promise<SaslStep> {
    try {
      switch (stanza.name) {
        case 'auth':
          return await this.#auth(stanza);
        case 'response':
          return await this.#response(stanza);
        case 'abort':
          this.#reset();
          return failure('aborted');
        default:
          return failure('malformed-request', `unexpected <${stanza.name}/>`);
      }
    } catch (e) {
      this.#reset();
      if (e instanceof SaslFailure) return failure(e.condition, e.message);
      throw e;
    }
  }

  async #auth(stanza: Element): Promise<SaslStep> {
    this.#reset();
    const mechanism = stanza.attr('mechanism') ?? '';
    if (!(this.mechanisms as readonly string[]).includes(mechanism)) return failure('invalid-mechanism', `${mechanism || 'no mechanism'} is not offered`);
    const payload = decodePayload(stanza.getText());
    if (mechanism === 'PLAIN') {
      if (payload === undefined) return { kind: 'reply', xml: `<challenge xmlns='${NS.sasl}'/>` };
      return this.#plain(payload);
    }
    const hash = SCRAM_HASH[mechanism as Mechanism];
    if (hash === undefined) return failure('invalid-mechanism');
    this.#scram = new ScramServerSession(hash, (user) => this.#credential(user, hash), undefined, {
      fakeIterations: this.scramIterations,
      // Some clients send their bare JID as authzid: that is the same identity.
      authzidAllowed: (authzid, username) => authzid === username || authzid === `${normalizeUser(username, this.domain) ?? ''}@${this.domain}`,
    });
    if (payload === undefined) return { kind: 'reply', xml: `<challenge xmlns='${NS.sasl}'/>` };
    return this.#scramFirst(payload);
  }

  async #response(stanza: Element): Promise<SaslStep> {
    const payload = decodePayload(stanza.getText()) ?? Buffer.alloc(0);
    if (this.#scram === undefined) return failure('malformed-request', 'no exchange in progress');
    if (!this.#scramStarted) return this.#scramFirst(payload);
    const serverFinal = this.#scram.finish(payload);
    const username = this.#scram.username;
    const attempted = this.#attempted;
    this.#reset();
    if (username === undefined) return failure('not-authorized', undefined, attempted);
    return { kind: 'success', xml: `<success xmlns='${NS.sasl}'>${serverFinal.toString('base64')}</success>`, username: normalizeUser(username, this.domain) ?? username };
  }

  async #scramFirst(payload: Buffer): Promise<SaslStep> {
    if (this.#scram === undefined) return failure('malformed-request');
    const named = /^[ny],[^,]*,n=([^,]*)/.exec(payload.toString('utf8'))?.[1];
    const user = named === undefined ? undefined : normalizeUser(named.replace(/=2C/g, ',').replace(/=3D/g, '='), this.domain);
    if (user !== undefined && this.isLocked(user)) return lockedOut(user);
    this.#attempted = user;
    this.#scramStarted = true;
    const serverFirst = await this.#scram.start(payload);
    return { kind: 'reply', xml: `<challenge xmlns='${NS.sasl}'>${serverFirst.toString('base64')}</challenge>` };
  }

  async #plain(payload: Buffer): Promise<SaslStep> {
    const { authzid, authcid, password } = parsePlain(payload);
    const username = normalizeUser(authcid, this.domain);
    if (username === undefined) return failure('not-authorized');
    if (this.isLocked(username)) return lockedOut(username);
    if (authzid !== '' && authzid !== `${username}@${this.domain}` && authzid !== username) return failure('invalid-authzid');
    // Accounts imported with SCRAM-SHA-1 keys only (ejabberd's default) have no SHA-256 keys to check against.
    const cred = (await this.accounts.credential(username, 'sha256')) ?? (await this.accounts.credential(username, 'sha1'));
    if (cred === undefined || !(await verifyPassword(password, cred))) return failure('not-authorized', undefined, username);
    return { kind: 'success', xml: `<success xmlns='${NS.sasl}'/>`, username };
  }

  async #credential(user: string, hash: ScramHash) {
    const username = normalizeUser(user, this.domain);
    return username === undefined ? undefined : this.accounts.credential(username, hash);
  }

  #reset(): void {
    this.#scram = undefined;
    this.#scramStarted = false;
    this.#attempted = undefined;
  }

  #attempted: string | undefined;
}

/**
 * RFC 6120 §6.5.1 account-disabled ("temporarily disabled"). The lock counts
 * names whether or not they exist, so the answer reveals nothing about them.
 */
function lockedOut(username: string): SaslStep {
  return failure('account-disabled', 'too many failed attempts; try again later', username);
}

type Failure = Extract<SaslStep, { kind: 'failure' }>;

function failure(condition: string, text?: string, username?: string): Failure {
  return { kind: 'failure', xml: saslFailureXml(condition, text), condition, ...(username !== undefined ? { username } : {}) };
}

/** RFC 6120 §6.4.2: '=' is an empty initial response; no text means none was sent. */
function decodePayload(text: string): Buffer | undefined {
  const t = text.trim();
  if (t === '') return undefined;
  if (t === '=') return Buffer.alloc(0);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(t) || t.length % 4 !== 0) throw new SaslFailure('incorrect-encoding', 'payload is not base64');
  return Buffer.from(t, 'base64');
}

/** The account name as stored: the JID localpart, normalized. */
function normalizeUser(user: string, domain: string): string | undefined {
  try {
    return jid(user, domain).local || undefined;
  } catch {
    return undefined;
  }
}
