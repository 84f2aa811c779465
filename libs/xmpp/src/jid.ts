/**
 * JIDs per RFC 7622: the localpart is enforced with the PRECIS
 * UsernameCaseMapped profile (RFC 8265 §3), the resourcepart with the
 * OpaqueString profile (RFC 8265 §4), the domainpart with UTS #46 / IDNA2008
 * (RFC 7622 §3.2). See ./precis/ for the framework (RFC 8264).
 */
import { enforceDomainpart } from './precis/domainpart.js';
import { PrecisError, enforceOpaqueString, enforceUsernameCaseMapped } from './precis/profiles.js';

export class JidError extends Error {
  constructor(
    message: string,
    readonly input: string,
  ) {
    super(message);
    this.name = 'JidError';
  }
}

/** RFC 7622 §3.1: each part is 1..1023 octets once prepared. */
const MAX_PART_BYTES = 1023;

// RFC 7622 §3.3.1: these are disallowed in a localpart (besides what PRECIS already forbids).
const LOCAL_FORBIDDEN = /["&'/:<>@]/u;

export class Jid {
  readonly local: string;
  readonly domain: string;
  /** '' when absent. */
  readonly resource: string;

  /** Validates and normalises the parts; '' means "absent" for local and resource. */
  constructor(local: string, domain: string, resource = '') {
    const input = joinParts(local, domain, resource);
    this.local = local === '' ? '' : prepareLocal(local, input);
    this.domain = prepareDomain(domain, input);
    this.resource = resource === '' ? '' : prepareResource(resource, input);
  }

  bare(): Jid {
    return this.isBare() ? this : new Jid(this.local, this.domain);
  }

  isBare(): boolean {
    return this.resource === '';
  }

  toString(): string {
    return joinParts(this.local, this.domain, this.resource);
  }

  toBareString(): string {
    return joinParts(this.local, this.domain, '');
  }

  equals(other: Jid): boolean {
    return (
      this.local === other.local && this.domain === other.domain && this.resource === other.resource
    );
  }
}

function joinParts(local: string, domain: string, resource: string): string {
  const bare = local === '' ? domain : `${local}@${domain}`;
  return resource === '' ? bare : `${bare}/${resource}`;
}

/**
 * RFC 7622 §3.2: the first '/' starts the resourcepart (which may itself
 * contain '/' and '@'); before it, the first '@' ends the localpart.
 */
export function parseJid(input: string): Jid {
  const slash = input.indexOf('/');
  const beforeResource = slash < 0 ? input : input.slice(0, slash);
  const resource = slash < 0 ? '' : input.slice(slash + 1);
  if (slash >= 0 && resource === '') throw new JidError('empty resourcepart after "/"', input);
  const at = beforeResource.indexOf('@');
  const local = at < 0 ? '' : beforeResource.slice(0, at);
  const domain = at < 0 ? beforeResource : beforeResource.slice(at + 1);
  if (at >= 0 && local === '') throw new JidError('empty localpart before "@"', input);
  return construct(local, domain, resource, input);
}

export function tryParseJid(input: string): Jid | undefined {
  try {
    return parseJid(input);
  } catch (error: unknown) {
    if (error instanceof JidError) return undefined;
    throw error;
  }
}

/** parseJid without throwing: the JID, or the JidError that says what is wrong with it. */
export function parseJidOrError(input: string): Jid | JidError {
  try {
    return parseJid(input);
  } catch (error: unknown) {
    if (error instanceof JidError) return error;
    throw error;
  }
}

export function jid(local: string, domain: string, resource?: string): Jid {
  return new Jid(local, domain, resource ?? '');
}

/** Same as `new Jid`, but errors name the original input string. */
function construct(local: string, domain: string, resource: string, input: string): Jid {
  try {
    return new Jid(local, domain, resource);
  } catch (error: unknown) {
    if (error instanceof JidError) throw new JidError(error.message, input);
    throw error;
  }
}

function checkLength(prepared: string, what: string, input: string): void {
  if (Buffer.byteLength(prepared, 'utf8') > MAX_PART_BYTES) {
    throw new JidError(`${what} longer than ${MAX_PART_BYTES} bytes`, input);
  }
}

/** Runs a PRECIS enforcement step, turning its error into a JidError naming the part. */
function enforcePart(enforce: (raw: string) => string, raw: string, what: string, input: string): string {
  // Refuse absurd inputs before spending Unicode work on them: no mapping
  // shrinks a string to a quarter of its UTF-16 length.
  if (raw.length > MAX_PART_BYTES * 4) throw new JidError(`${what} longer than ${MAX_PART_BYTES} bytes`, input);
  try {
    const prepared = enforce(raw);
    checkLength(prepared, what, input);
    return prepared;
  } catch (error: unknown) {
    if (error instanceof PrecisError) throw new JidError(`${what} ${error.message}`, input);
    throw error;
  }
}

function prepareLocal(raw: string, input: string): string {
  const local = enforcePart(enforceUsernameCaseMapped, raw, 'localpart', input);
  const bad = LOCAL_FORBIDDEN.exec(local);
  if (bad !== null) throw new JidError(`localpart contains forbidden character ${bad[0]}`, input);
  return local;
}

/**
 * Prepared domainparts by their raw form. A server sees a handful of domains
 * (its own above all, in every JID it builds or parses), and preparing one
 * is Unicode work: about 2 % of a connection node's CPU per login. Only
 * successes are kept; at the bound the map starts over.
 */
const preparedDomains = new Map<string, string>();
const PREPARED_DOMAINS_MAX = 256;

function prepareDomain(raw: string, input: string): string {
  const known = preparedDomains.get(raw);
  if (known !== undefined) return known;
  const prepared = enforcePart(enforceDomainpart, raw, 'domainpart', input);
  if (preparedDomains.size >= PREPARED_DOMAINS_MAX) preparedDomains.clear();
  preparedDomains.set(raw, prepared);
  return prepared;
}

function prepareResource(raw: string, input: string): string {
  return enforcePart(enforceOpaqueString, raw, 'resourcepart', input);
}
