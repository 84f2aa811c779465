import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { type Element, NS, StreamParser } from '@vigil/xmpp';
import { READER_LIMITS, StanzaReader } from './stanza-reader.js';

type Canon = { name: string; ns: string; attrs: [string, string][]; children: (string | Canon)[] };
type Event =
  | { k: 'open' }
  | { k: 'stanza'; e: Canon }
  | { k: 'presence'; from: string | undefined; type: string | undefined }
  | { k: 'close' }
  | { k: 'error' };

function canon(e: Element): Canon {
  const children: (string | Canon)[] = [];
  for (const c of e.children) {
    const last = children.at(-1);
    if (typeof c === 'string') {
      if (typeof last === 'string') children[children.length - 1] = last + c;
      else children.push(c);
    } else children.push(canon(c));
  }
  return { name: e.name, ns: e.ns, attrs: Object.entries(e.attrs).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)), children };
}

/** A plain presence as the reader's fast path hands it over; other elements as trees. */
function stanzaEvent(e: Element, fastPresence: boolean): Event {
  if (fastPresence && e.name === 'presence' && e.children.length === 0 && !Object.hasOwn(e.attrs, 'xmlns')) {
    return { k: 'presence', from: e.attrs.from, type: e.attrs.type };
  }
  return { k: 'stanza', e: canon(e) };
}

function viaParser(chunks: readonly Buffer[], fastPresence: boolean): Event[] {
  const out: Event[] = [];
  const parser = new StreamParser(
    {
      onStreamOpen: () => out.push({ k: 'open' }),
      onStanza: (e) => out.push(stanzaEvent(e, fastPresence)),
      onStreamClose: () => out.push({ k: 'close' }),
      onError: () => out.push({ k: 'error' }),
    },
    READER_LIMITS,
  );
  for (const c of chunks) parser.write(c);
  return out;
}

function viaReader(chunks: readonly Buffer[], fastPresence: boolean): { events: Event[]; reader: StanzaReader; errors: string[] } {
  const events: Event[] = [];
  const errors: string[] = [];
  const reader = new StanzaReader({
    onStreamOpen: () => events.push({ k: 'open' }),
    // The client treats a presence Element from the parser like one from the fast path.
    onStanza: (e) => events.push(stanzaEvent(e, fastPresence)),
    onPresence: (from, type) => events.push({ k: 'presence', from, type }),
    onStreamClose: () => events.push({ k: 'close' }),
    onError: (message) => {
      errors.push(message);
      events.push({ k: 'error' });
    },
  });
  reader.fastPresence = fastPresence;
  for (const c of chunks) reader.write(c);
  reader.drainToParser();
  return { events, reader, errors };
}

function split(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    out.push(bytes.subarray(from, p));
    from = p;
  }
  out.push(bytes.subarray(from));
  return out;
}

const HEADER = `<?xml version='1.0'?><stream:stream xmlns='${NS.client}' xmlns:stream='${NS.stream}' from='localhost' id='abc' xml:lang='en' version='1.0'>`;

// ---- generators of server output, mostly well-formed ----------------------------------------

const S = fc.constantFrom(' ', '  ', '\n', '\t', ' \n ');
const OPT_S = fc.oneof(fc.constant(''), S);
const NAME = fc.constantFrom('presence', 'iq', 'message', 'item', 'query', 'show', 'status', 'c', 'x', 'body', 'a-b', 'a.b', '_z9');
const RAW_CHAR = fc.oneof(
  { weight: 100, arbitrary: fc.constantFrom('a', 'Z', '0', ' ', '@', '/', '.', '-', '&', '<', '>', '"', "'", '=', 'é', '€', '😀', ']', ';', '#') },
  { weight: 1, arbitrary: fc.constantFrom('\t', '\n', '\r') },
);
const RAW_TEXT = fc.array(RAW_CHAR, { maxLength: 12 }).map((cs) => cs.join(''));

/** Escapes for XML: required ones always, optional ones at random, sometimes as character references. */
function escaped(raw: string, quote: '"' | "'" | undefined, pick: readonly number[]): string {
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i] as string;
    const r = pick[i % Math.max(1, pick.length)] ?? 0;
    const ref = `&#${r % 2 === 0 ? c.codePointAt(0) : `x${(c.codePointAt(0) ?? 0).toString(16)}`};`;
    if (c === '&') out += r % 7 === 0 ? ref : '&amp;';
    else if (c === '<') out += r % 7 === 0 ? ref : '&lt;';
    else if (c === '>') out += r % 7 === 0 ? '&gt;' : r % 7 === 1 ? ref : '>';
    else if (c === quote) out += c === '"' ? (r % 7 === 0 ? ref : '&quot;') : r % 7 === 0 ? ref : '&apos;';
    else if (c === '"' && r % 4 === 0) out += '&quot;';
    else if (c === "'" && r % 4 === 0) out += '&apos;';
    else if ((c === '\t' || c === '\n' || c === '\r') && r % 2 === 0) out += ref;
    else if (c === ']' && r % 11 === 0) out += ']]>';
    else out += c;
  }
  return out;
}

const ATTR_VALUE = fc.tuple(RAW_TEXT, fc.constantFrom<'"' | "'">('"', "'"), fc.array(fc.nat(29), { minLength: 1, maxLength: 8 }), OPT_S, OPT_S).map(
  ([raw, q, pick, s1, s2]) => ({ raw, xml: `${s1}=${s2}${q}${escaped(raw, q, pick)}${q}` }),
);
const ATTR_NAME = fc.constantFrom('from', 'to', 'type', 'id', 'xml:lang', 'name', 'jid', 'subscription', 'ver', 'hash', 'node');

const ATTRS = fc
  .uniqueArray(fc.tuple(ATTR_NAME, ATTR_VALUE, S), { selector: ([n]) => n, maxLength: 5 })
  .map((list) => list.map(([n, v, s]) => `${s}${n}${v.xml}`).join(''));

const TYPE_VALUE = fc.constantFrom('unavailable', 'error', 'subscribe', 'result', 'get', 'probe');

const attr = (v: string) => v.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/'/g, '&apos;').replace(/"/g, '&quot;');

/** Presence as servers send it, attributes in any order and quoting. */
const PRESENCE = fc
  .tuple(
    fc.shuffledSubarray(['from', 'to', 'type', 'id'] as const),
    fc.array(fc.tuple(fc.emailAddress(), TYPE_VALUE, fc.constantFrom("'", '"'), S, OPT_S, OPT_S), { minLength: 4, maxLength: 4 }),
    OPT_S,
    fc.constantFrom('/>', '></presence>', '></presence >'),
  )
  .map(([names, vals, end, close]) => {
    let out = '<presence';
    names.forEach((n, i) => {
      const [addr, type, q, s, s1, s2] = vals[i] as [string, string, string, string, string, string];
      const v = n === 'type' ? type : `${addr}/r${i}`;
      out += `${s}${n}${s1}=${s2}${q}${attr(v)}${q}`;
    });
    return out + end + close;
  });

const ELEMENT: fc.Arbitrary<string> = fc.letrec<{ el: string; content: string }>((tie) => ({
  el: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.tuple(NAME, ATTRS, OPT_S).map(([n, a, s]) => `<${n}${a}${s}/>`),
    fc.tuple(NAME, ATTRS, fc.option(fc.constantFrom('urn:a', 'jabber:iq:roster', '', NS.stanzas)), tie('content'), OPT_S).map(
      ([n, a, ns, content, s]) => `<${n}${a}${ns === null ? '' : ` xmlns='${ns}'`}>${content}</${n}${s}>`,
    ),
  ),
  content: fc.array(fc.oneof(tie('el'), fc.tuple(RAW_TEXT, fc.array(fc.nat(29), { minLength: 1, maxLength: 8 })).map(([t, p]) => escaped(t, undefined, p))), { maxLength: 3 }).map((xs) => xs.join('')),
})).el;

const ROSTER = fc.array(fc.tuple(fc.emailAddress(), fc.constantFrom('both', 'to', 'from', 'none')), { maxLength: 5 }).map(
  (items) =>
    `<iq id='roster1' type='result' to='c2@localhost/r'><query xmlns='jabber:iq:roster' ver='1'>` +
    items.map(([jid, sub]) => `<item jid='${attr(jid)}' name='${attr(jid.split('@')[0] ?? '')}' subscription='${sub}'/>`).join('') +
    '</query></iq>',
);

const FIXED = fc.constantFrom(
  `<stream:features><mechanisms xmlns='${NS.sasl}'><mechanism>SCRAM-SHA-256</mechanism><mechanism>PLAIN</mechanism></mechanisms></stream:features>`,
  `<stream:features><bind xmlns='${NS.bind}'/><session xmlns='${NS.session}'><optional/></session></stream:features>`,
  `<stream:error><system-shutdown xmlns='${NS.streams}'/><text xmlns='${NS.streams}' xml:lang='en'>bye</text></stream:error>`,
  `<challenge xmlns='${NS.sasl}'>cj1hYmMscz1kZWYsaT00MDk2</challenge>`,
  `<iq id='bind0' type='result'><bind xmlns='${NS.bind}'><jid>c2@localhost/r</jid></bind></iq>`,
  `<iq type='get' id='p1' from='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`,
  `<presence from='a@b/c' type='error'><error type='cancel'><item-not-found xmlns='${NS.stanzas}'/></error></presence>`,
  // Refused by the scanner, read by the parser:
  `<iq type='get' id='1'><query xmlns:x='urn:x'><x:a/></query></iq>`,
  `<message><body><![CDATA[a < b]]></body></message>`,
  `<message><body>caf&#xE9;</body></message>`,
  `<présence/>`,
  `<presence from='a@b/c' xmlns='jabber:client'/>`,
);

const HEADERS = fc.constantFrom(
  HEADER,
  `<stream:stream xmlns:stream="${NS.stream}" xmlns="${NS.client}" version="1.0">`,
  `<?xml version="1.0" encoding="UTF-8" ?>\n<stream:stream\n xmlns='${NS.client}'\txmlns:stream='${NS.stream}' >`,
  `<?xml version='1.1'?><stream:stream xmlns='${NS.client}' xmlns:stream='${NS.stream}'>`,
  `<s:stream xmlns:s='${NS.stream}' xmlns='jabber:server'>`,
  `<stream xmlns='${NS.stream}'>`,
);

const STANZA = fc.oneof({ weight: 5, arbitrary: PRESENCE }, { weight: 3, arbitrary: ELEMENT }, { weight: 1, arbitrary: ROSTER }, { weight: 1, arbitrary: FIXED });

/** The end tag matching a header (with optional space), or now and then one that does not match. */
function closeOf(header: string, variant: number): string {
  const qname = /<([\w:]+) /.exec(header.replace(/^<\?xml[^>]*>\s*/, ''))?.[1] ?? 'stream:stream';
  return ['', `</${qname}>`, `</${qname} >`, `</${qname}>`, '</stream:stream>'][variant % 5] as string;
}

const STREAM = fc
  .tuple(HEADERS, fc.array(fc.tuple(OPT_S, STANZA), { maxLength: 12 }), fc.nat())
  .map(([h, stanzas, close]) => h + stanzas.map(([s, x]) => s + x).join('') + closeOf(h, close));

/** A random edit: what a broken server, or a broken network, might produce. */
const MUTATION = fc.tuple(fc.nat(), fc.constantFrom('', '<', '>', '/', "'", '"', '&', '=', ' ', '\r', '\u0001', 'x', ':', ']]>', '<!--', '\uffff', '&#0;'), fc.nat(3));
function mutate(text: string, [at, insert, remove]: [number, string, number]): string {
  const i = at % (text.length + 1);
  return text.slice(0, i) + insert + text.slice(i + remove);
}

const CUTS = fc.array(fc.nat(), { maxLength: 20 });

function agree(text: string | Buffer, cuts: readonly number[], fastPresence: boolean): StanzaReader {
  const chunks = split(typeof text === 'string' ? Buffer.from(text) : text, cuts);
  const expected = viaParser(chunks, fastPresence);
  const { events, reader } = viaReader(chunks, fastPresence);
  assert.deepStrictEqual(events, expected);
  return reader;
}

describe('StanzaReader: the load generator reads server output as the full parser does', () => {
  test('well-formed streams, split anywhere, with and without the presence fast path', () => {
    let scanned = 0;
    let stanzas = 0;
    fc.assert(
      fc.property(STREAM, CUTS, fc.boolean(), (text, cuts, fast) => {
        const reader = agree(text, cuts, fast);
        scanned += reader.scanned;
        stanzas += viaParser([Buffer.from(text)], fast).filter((e) => e.k === 'stanza' || e.k === 'presence').length;
      }),
      { numRuns: 1500 },
    );
    // The comparison means something only if the scanner reads most stanzas itself.
    assert.ok(scanned > stanzas / 3, `only ${scanned} of ${stanzas} stanzas read by the scanner`);
  });

  test('damaged streams: the scanner refuses what it does not know, and the parser reports it', () => {
    fc.assert(
      fc.property(STREAM, fc.array(MUTATION, { minLength: 1, maxLength: 3 }), CUTS, fc.boolean(), (text, edits, cuts, fast) => {
        agree(edits.reduce(mutate, text), cuts, fast);
      }),
      { numRuns: 3000 },
    );
  });

  test('random bytes after a header', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), CUTS, (bytes, cuts) => {
        agree(Buffer.concat([Buffer.from(HEADER), bytes]), cuts, true);
      }),
      { numRuns: 1000 },
    );
  });

  test("what Vigil's nodes send goes through the scanner alone, presence without building elements", () => {
    const text =
      HEADER +
      `<stream:features><bind xmlns='${NS.bind}'/><session xmlns='${NS.session}'><optional/></session><ver xmlns='urn:xmpp:features:rosterver'/><sm xmlns='urn:xmpp:sm:3'/></stream:features>` +
      `<iq id='bind0' type='result'><bind xmlns='${NS.bind}'><jid>c2@localhost/r</jid></bind></iq>` +
      `<iq id='roster1' type='result' to='c2@localhost/r'><query xmlns='jabber:iq:roster' ver='1'><item jid='c0@localhost' name='c0' subscription='both'/></query></iq>` +
      `<presence to='c2@localhost/r' from='c0@localhost/r'/><presence to='c2@localhost/r' from='c1@localhost/r' type='unavailable'/>` +
      `<stream:error><system-shutdown xmlns='${NS.streams}'/><text xmlns='${NS.streams}' xml:lang='en'>server is shutting down</text></stream:error></stream:stream>`;
    for (let cut = 0; cut <= Buffer.byteLength(text); cut += 7) {
      const reader = agree(text, [cut], true);
      assert.equal(reader.fallbacks, 0, `cut at ${cut}`);
    }
    const { events } = viaReader([Buffer.from(text)], true);
    assert.deepStrictEqual(events.filter((e) => e.k === 'presence'), [
      { k: 'presence', from: 'c0@localhost/r', type: undefined },
      { k: 'presence', from: 'c1@localhost/r', type: 'unavailable' },
    ]);
    assert.equal(events.at(-1)?.k, 'close');
  });

  test('after a stanza it refuses, the scanner takes over again once the parser is between stanzas', () => {
    const text = `${HEADER}<message><body><![CDATA[x]]></body></message><presence from='a@b/c' type='unavailable'/>`;
    const first = viaReader([Buffer.from(text)], true);
    assert.equal(first.reader.fallbacks, 1);
    assert.deepStrictEqual(first.events.at(-1), { k: 'presence', from: 'a@b/c', type: 'unavailable' });
    // Read by the parser because it came in the same write; the next write is scanned.
    const second = viaReader([Buffer.from(text), Buffer.from("<presence from='d@e/f'/>")], true);
    assert.equal(second.reader.fallbacks, 1);
    assert.deepStrictEqual(second.events.at(-1), { k: 'presence', from: 'd@e/f', type: undefined });
  });

  test('errors are reported with the reason: invalid UTF-8, a restricted construct, a mismatched end tag', () => {
    for (const [tail, reason] of [
      [Buffer.from([0x3c, 0x61, 0xff, 0x2f, 0x3e]), /UTF-8/],
      [Buffer.from('<!-- hi -->'), /restricted-xml/],
      [Buffer.from("<presence from='a'></message>"), /not-well-formed/],
      [Buffer.from("<presence from='a' from='b'/>"), /not-well-formed/],
    ] as const) {
      const { errors } = viaReader([Buffer.from(HEADER), tail], true);
      assert.equal(errors.length, 1, String(tail));
      assert.match(errors[0] ?? '', reason);
    }
  });

  test('a UTF-8 sequence split across writes is held back, not refused', () => {
    const text = `${HEADER}<presence from='jé😀@b/c'/>`;
    const bytes = Buffer.from(text);
    for (let cut = bytes.length - 12; cut < bytes.length; cut++) {
      const { events } = viaReader([bytes.subarray(0, cut), bytes.subarray(cut)], true);
      assert.deepStrictEqual(events.at(-1), { k: 'presence', from: 'jé😀@b/c', type: undefined }, `cut at ${cut}`);
    }
  });

  test('restart() begins a new stream (RFC 6120 §4.3.3)', () => {
    const events: string[] = [];
    const reader = new StanzaReader({
      onStreamOpen: () => events.push('open'),
      onStanza: (e) => events.push(e.name),
      onPresence: () => events.push('presence'),
      onStreamClose: () => events.push('close'),
      onError: (m) => events.push(`error ${m}`),
    });
    reader.write(Buffer.from(`${HEADER}<success xmlns='${NS.sasl}'/>`));
    reader.restart();
    reader.write(Buffer.from(`${HEADER}<stream:features/>`));
    assert.deepStrictEqual(events, ['open', 'success', 'open', 'stream:features']);
  });
});
