/**
 * The client's half of SASL negotiation (RFC 6120 §6.4): pick the wanted
 * mechanism from <stream:features/>, run PLAIN (RFC 4616) or SCRAM
 * (RFC 5802), and verify the server's final message.
 *
 * A step machine rather than an async function: the load generator feeds
 * it the server's elements as they are read, and a login costs no promise
 * per step (the SCRAM keys are derived once per account and cached, so a
 * step is synchronous unless they are not known yet).
 */
import { NS, type Element } from '@vigil/xmpp';
import { ScramClient, ScramClientError, type ScramMechanism } from './scram-client.js';

export type SaslMechanism = ScramMechanism | 'PLAIN';

export type LoginStage = 'connect' | 'stream' | 'sasl' | 'bind' | 'roster' | 'timeout' | 'closed';

/** login() failed; `stage` says where, `condition` carries the server's error condition if it sent one. */
export class LoginError extends Error {
  constructor(
    readonly stage: LoginStage,
    message: string,
    readonly condition?: string,
  ) {
    super(`${stage}: ${message}`);
    this.name = 'LoginError';
  }
}

/** RFC 6120 §4.9.3 / §6.5 / §8.3: the condition is the first child element (in `ns`, when given) other than <text/>. */
export function conditionOf(e: Element, ns?: string): string | undefined {
  for (const c of e.children) {
    if (typeof c !== 'string' && (ns === undefined || c.ns === ns) && c.name !== 'text') return c.name;
  }
  return undefined;
}

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
const unb64 = (e: Element) => Buffer.from(e.getText(), 'base64').toString('utf8');

/** What SaslClient.next() asks for: send this XML and go on, or authentication is over. */
export const SASL_DONE = true;

/** One SASL exchange, from the server's features to its verified <success/>. */
export class SaslClient {
  readonly #mechanism: SaslMechanism;
  readonly #username: string;
  readonly #password: string;
  #scram: ScramClient | undefined;
  /** The element the server must send next. */
  #expect: 'challenge' | 'success' = 'success';

  constructor(mechanism: SaslMechanism, username: string, password: string) {
    this.#mechanism = mechanism;
    this.#username = username;
    this.#password = password;
  }

  /** The <auth/> element opening the exchange; throws LoginError when the server does not offer the mechanism. */
  start(features: Element): string {
    const mechanism = this.#mechanism;
    const offered = (features.getChild('mechanisms', NS.sasl)?.getChildren('mechanism') ?? []).map((m) => m.getText().trim());
    if (!offered.includes(mechanism)) throw new LoginError('sasl', `${mechanism} not offered (offered: ${offered.join(', ') || 'none'})`);
    if (mechanism === 'PLAIN') {
      this.#expect = 'success';
      return `<auth xmlns='${NS.sasl}' mechanism='PLAIN'>${b64(`\0${this.#username}\0${this.#password}`)}</auth>`;
    }
    const scram = new ScramClient(mechanism, this.#username, this.#password);
    this.#scram = scram;
    this.#expect = 'challenge';
    return `<auth xmlns='${NS.sasl}' mechanism='${mechanism}'>${b64(scram.clientFirst())}</auth>`;
  }

  /**
   * The server's next element: the XML to answer with (a promise of it when
   * the SCRAM keys are still being derived), or SASL_DONE once <success/>
   * arrived and, for SCRAM, the server proved it knows the password. Throws
   * (or rejects with) a LoginError; <failure/> carries its condition
   * (RFC 6120 §6.5).
   */
  next(e: Element): string | Promise<string> | typeof SASL_DONE {
    const expected = this.#expect;
    if (e.ns !== NS.sasl || e.name !== expected) {
      if (e.ns === NS.sasl && e.name === 'failure') {
        const condition = conditionOf(e);
        throw new LoginError('sasl', `authentication failed (${condition ?? 'no condition'})`, condition);
      }
      throw new LoginError('sasl', `expected <${expected}/>, got <${e.name}/>`);
    }
    const scram = this.#scram;
    try {
      if (expected === 'success') {
        scram?.verifyServerFinal(unb64(e));
        return SASL_DONE;
      }
      this.#expect = 'success';
      const clientFinal = (scram as ScramClient).clientFinalNow(unb64(e));
      if (typeof clientFinal === 'string') return response(clientFinal);
      return clientFinal.then(response, (error: unknown) => {
        throw asLoginError(error);
      });
    } catch (error) {
      throw asLoginError(error);
    }
  }
}

function response(clientFinal: string): string {
  return `<response xmlns='${NS.sasl}'>${b64(clientFinal)}</response>`;
}

function asLoginError(e: unknown): unknown {
  return e instanceof ScramClientError ? new LoginError('sasl', e.message) : e;
}
