/**
 * The client's half of SASL negotiation (RFC 6120 §6.4): pick the wanted
 * mechanism from <stream:features/>, run PLAIN (RFC 4616) or SCRAM
 * (RFC 5802), and verify the server's final message.
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
  return e.getChildElements().find((c) => (ns === undefined || c.ns === ns) && c.name !== 'text')?.name;
}

/** How negotiation talks to the stream: write XML, await the next top-level element. */
export interface SaslIo {
  send(xml: string): void;
  next(): Promise<Element>;
}

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
const unb64 = (e: Element) => Buffer.from(e.getText(), 'base64').toString('utf8');

/** Resolves once the server sent <success/> (and, for SCRAM, proved it knows the password); throws LoginError. */
export async function authenticate(features: Element, mechanism: SaslMechanism, username: string, password: string, io: SaslIo): Promise<void> {
  const offered = (features.getChild('mechanisms', NS.sasl)?.getChildren('mechanism') ?? []).map((m) => m.getText().trim());
  if (!offered.includes(mechanism)) throw new LoginError('sasl', `${mechanism} not offered (offered: ${offered.join(', ') || 'none'})`);
  if (mechanism === 'PLAIN') {
    io.send(`<auth xmlns='${NS.sasl}' mechanism='PLAIN'>${b64(`\0${username}\0${password}`)}</auth>`);
    await step(io, 'success');
    return;
  }
  const scram = new ScramClient(mechanism, username, password);
  try {
    io.send(`<auth xmlns='${NS.sasl}' mechanism='${mechanism}'>${b64(scram.clientFirst())}</auth>`);
    const clientFinal = await scram.clientFinal(unb64(await step(io, 'challenge')));
    io.send(`<response xmlns='${NS.sasl}'>${b64(clientFinal)}</response>`);
    scram.verifyServerFinal(unb64(await step(io, 'success')));
  } catch (e) {
    if (e instanceof ScramClientError) throw new LoginError('sasl', e.message);
    throw e;
  }
}

/** The next element must be `expected`; <failure/> becomes a LoginError with its condition (RFC 6120 §6.5). */
async function step(io: SaslIo, expected: 'challenge' | 'success'): Promise<Element> {
  const e = await io.next();
  if (e.ns === NS.sasl && e.name === expected) return e;
  if (e.ns === NS.sasl && e.name === 'failure') {
    const condition = conditionOf(e);
    throw new LoginError('sasl', `authentication failed (${condition ?? 'no condition'})`, condition);
  }
  throw new LoginError('sasl', `expected <${expected}/>, got <${e.name}/>`);
}
