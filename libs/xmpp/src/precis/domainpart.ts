/**
 * RFC 7622 §3.2: a domainpart is an IP literal, an IPv4 address or a
 * fully qualified domain name of NR-LDH labels and IDNA2008 U-labels.
 * Non-ASCII names (and A-labels) go through UTS #46 processing, which RFC
 * 7622 §3.2 recommends for the mapping step (width, case, NFC) and which
 * also applies the IDNA2008 validity and CONTEXTJ checks; Node's
 * url.domainToASCII implements it with ICU. The Bidi Rule across labels is
 * checked here. The result is kept in U-label
 * form, so a name has one spelling whether it arrived as U- or A-labels.
 */
import { isIPv6 } from 'node:net';
import { domainToASCII, domainToUnicode } from 'node:url';
import { bidiRuleViolationOfLabel, hasRightToLeft } from './bidi-rule.js';
import { PrecisError, describeCodePoint } from './profiles.js';

/** RFC 5890 §2.3.1 / RFC 1034 §3.1: a label is 1..63 octets. */
const MAX_LABEL_OCTETS = 63;
const LDH_LABEL = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;

export function enforceDomainpart(input: string): string {
  // UTS #46 §2.3: the ideographic and fullwidth full stops separate labels too.
  const dotted = input.replace(/[\u3002\uff0e\uff61]/gu, '.');
  // RFC 7622 §3.2: the trailing dot of a fully qualified name is not part of it.
  const raw = dotted.endsWith('.') ? dotted.slice(0, -1) : dotted;
  if (raw === '') throw new PrecisError('is empty');
  if (raw.startsWith('[')) return ipLiteral(raw);
  if (!/^[A-Za-z0-9.-]+$/.test(raw)) rejectObviousCharacters(raw);
  const labels = raw.split('.').map(uLabel);
  // RFC 5893 §2: in a name with a right-to-left label, every label obeys the Bidi Rule.
  const cps = labels.map((label) => Array.from(label, (c) => c.codePointAt(0) as number));
  if (cps.some(hasRightToLeft)) {
    for (const label of cps) {
      const violation = bidiRuleViolationOfLabel(label);
      if (violation !== undefined) throw new PrecisError(`fails the Bidi Rule: ${violation}`);
    }
  }
  return labels.join('.');
}

/**
 * One label in U-label form (or lower-case LDH). Labels go to the URL host
 * parser one by one, and only when they need IDNA, so that its IPv4 number
 * parsing ("0x1", "017") never applies to a domain name's last label.
 */
function uLabel(label: string): string {
  if (label === '') throw new PrecisError('has an empty label');
  const needsIdna = /[^\p{ASCII}]/u.test(label) || /^xn--/i.test(label);
  const ascii = needsIdna ? domainToASCII(label) : label.toLowerCase();
  if (ascii === '' || ascii.includes('.')) {
    throw new PrecisError(`has a label that is not a valid IDNA2008 label (UTS #46 processing failed): ${label.slice(0, 20)}`);
  }
  checkLabel(ascii);
  return needsIdna ? domainToUnicode(ascii) : ascii;
}

function ipLiteral(raw: string): string {
  if (!raw.endsWith(']') || !isIPv6(raw.slice(1, -1))) {
    throw new PrecisError('starts with "[" but is not a bracketed IPv6 address');
  }
  return raw.toLowerCase();
}

function rejectObviousCharacters(raw: string): void {
  for (const c of raw) {
    const cp = c.codePointAt(0) as number;
    if (/\p{gc=Cc}/u.test(c)) throw new PrecisError(`contains a control character: ${describeCodePoint(cp)}`, cp);
    if (/[\s\p{gc=Zs}]/u.test(c)) throw new PrecisError(`contains whitespace: ${describeCodePoint(cp)}`, cp);
    if (/\p{gc=Cs}/u.test(c)) throw new PrecisError('holds an unpaired surrogate: not valid Unicode', cp);
  }
}

function checkLabel(label: string): void {
  if (label === '') throw new PrecisError('has an empty label');
  if (label.length > MAX_LABEL_OCTETS) {
    throw new PrecisError(`has a label longer than ${MAX_LABEL_OCTETS} octets in ASCII form: ${label.slice(0, 20)}…`);
  }
  if (!LDH_LABEL.test(label)) {
    const bad = /[^a-z0-9-]/.exec(label);
    if (bad !== null) {
      const cp = bad[0].codePointAt(0) as number;
      throw new PrecisError(`contains ${describeCodePoint(cp)}, not a letter, digit or hyphen (RFC 7622 §3.2)`, cp);
    }
    throw new PrecisError(`has a label that starts or ends with a hyphen: ${label}`);
  }
}
