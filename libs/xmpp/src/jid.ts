/**
 * JIDs per RFC 7622, pragmatically: NFC plus lower-casing stand in for the
 * PRECIS UsernameCaseMapped profile and IDNA mapping, and the forbidden
 * characters are checked explicitly instead of through the full PRECIS
 * tables.
 */

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
const WHITESPACE = /\s/u;
const CONTROL = /\p{Cc}/u;
const LONE_SURROGATE = /\p{Cs}/u;

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

function checkLength(part: string, what: string, input: string): void {
  if (part === '') throw new JidError(`empty ${what}`, input);
  // Unpaired surrogates cannot be encoded as UTF-8 and would not survive the wire.
  if (LONE_SURROGATE.test(part)) throw new JidError(`${what} is not valid Unicode`, input);
  if (Buffer.byteLength(part, 'utf8') > MAX_PART_BYTES) {
    throw new JidError(`${what} longer than ${MAX_PART_BYTES} bytes`, input);
  }
}

function prepareLocal(raw: string, input: string): string {
  // Lower-case first, then NFC, so the result is stable under a second pass.
  const local = raw.toLowerCase().normalize('NFC');
  checkLength(local, 'localpart', input);
  const bad = LOCAL_FORBIDDEN.exec(local);
  if (bad !== null) throw new JidError(`localpart contains forbidden character ${bad[0]}`, input);
  if (WHITESPACE.test(local)) throw new JidError('localpart contains whitespace', input);
  if (CONTROL.test(local)) throw new JidError('localpart contains a control character', input);
  return local;
}

function prepareDomain(raw: string, input: string): string {
  let domain = raw.toLowerCase().normalize('NFC');
  // RFC 7622 §3.2: a trailing dot (fully qualified form) is stripped before comparison.
  if (domain.endsWith('.')) domain = domain.slice(0, -1);
  checkLength(domain, 'domainpart', input);
  if (domain.includes('@')) throw new JidError('domainpart contains "@"', input);
  if (domain.includes('/')) throw new JidError('domainpart contains "/"', input);
  if (WHITESPACE.test(domain)) throw new JidError('domainpart contains whitespace', input);
  if (CONTROL.test(domain)) throw new JidError('domainpart contains a control character', input);
  if (!domain.startsWith('[') && domain.split('.').includes('')) {
    throw new JidError('domainpart has an empty label', input);
  }
  return domain;
}

function prepareResource(raw: string, input: string): string {
  // RFC 7622 §3.4: OpaqueString profile — case is preserved.
  const resource = raw.normalize('NFC');
  checkLength(resource, 'resourcepart', input);
  if (CONTROL.test(resource)) throw new JidError('resourcepart contains a control character', input);
  return resource;
}
