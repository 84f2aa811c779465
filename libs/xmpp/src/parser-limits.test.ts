import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import type { StreamParserLimits } from './parser.js';
import { STREAM_OPEN, parseChunks, record, PARSER_MODES, setParserOptions } from './testing-helpers.js';

const LIMITS: StreamParserLimits = { maxStanzaBytes: 1000, maxDepth: 4 };

function assertStanzaTooBig(recorder: ReturnType<typeof record>): void {
  const errors = recorder.errors();
  assert.equal(errors.length, 1);
  assert.equal(errors[0]?.condition, 'policy-violation');
  assert.match(errors[0]?.text ?? '', /stanza too big/);
  assert.deepEqual(recorder.stanzas(), []);
  assert.equal(recorder.parser.closed, true);
}

/** A <message/> of exactly `bytes` UTF-8 bytes, padded with two-byte characters. */
function messageOfBytes(bytes: number): string {
  const frame = '<message><body></body></message>';
  const padding = bytes - frame.length;
  return `<message><body>${'é'.repeat(Math.floor(padding / 2))}${'x'.repeat(padding % 2)}</body></message>`;
}

for (const mode of PARSER_MODES) {
  describe(mode.name, () => {
    before(() => setParserOptions(mode.options));

    describe('StreamParser size limit', () => {
      test('an unterminated text node twice the limit is refused before the stanza completes', () => {
        const recorder = parseChunks(
          [STREAM_OPEN, `<message><body>${'x'.repeat(LIMITS.maxStanzaBytes * 2)}`],
          LIMITS,
        );
        assertStanzaTooBig(recorder);
      });

      test('the limit holds when the oversized text arrives one byte at a time', () => {
        const recorder = record(LIMITS);
        recorder.parser.write(`${STREAM_OPEN}<message><body>`);
        let written = 0;
        while (!recorder.parser.closed && written < LIMITS.maxStanzaBytes * 2) {
          recorder.parser.write('y');
          written += 1;
        }
        assertStanzaTooBig(recorder);
        assert.ok(written <= LIMITS.maxStanzaBytes, `stopped after ${written} bytes`);
      });

      test('an unterminated attribute value larger than the limit is refused', () => {
        const recorder = parseChunks([STREAM_OPEN, `<message to='${'a'.repeat(5000)}`], LIMITS);
        assertStanzaTooBig(recorder);
      });

      test('a run of whitespace between stanzas larger than the limit is refused', () => {
        const recorder = parseChunks([STREAM_OPEN, '<presence/>', ' '.repeat(3000)], LIMITS);
        assert.equal(recorder.stanzas().length, 1);
        assert.equal(recorder.errors()[0]?.condition, 'policy-violation');
      });

      test('an oversized stream header is refused', () => {
        const header = STREAM_OPEN.replace("to='example.com'", `to='${'e'.repeat(2000)}'`);
        const recorder = parseChunks([header], LIMITS);
        assert.equal(recorder.errors()[0]?.condition, 'policy-violation');
        assert.equal(recorder.events[0]?.kind, 'error');
      });

      for (const limit of [200, 1000, 5000]) {
        test(`a stanza of exactly ${limit} bytes is accepted and one of ${limit + 1} bytes is refused`, () => {
          const limits = { maxStanzaBytes: limit, maxDepth: 4 };
          const exact = parseChunks([STREAM_OPEN, messageOfBytes(limit)], limits);
          assert.deepEqual(exact.errors(), []);
          assert.equal(exact.stanzas().length, 1);
          assertStanzaTooBig(parseChunks([STREAM_OPEN, messageOfBytes(limit + 1)], limits));
        });
      }

      test('the budget restarts after each stanza, so many small stanzas are fine', () => {
        const stanza = messageOfBytes(900);
        const recorder = parseChunks([STREAM_OPEN, stanza.repeat(20)], LIMITS);
        assert.deepEqual(recorder.errors(), []);
        assert.equal(recorder.stanzas().length, 20);
      });
    });

    describe('StreamParser depth limit', () => {
      const nest = (depth: number): string => '<a>'.repeat(depth) + '</a>'.repeat(depth);

      test('a stanza nested exactly to the limit (the stanza being depth 1) is accepted', () => {
        const recorder = parseChunks([STREAM_OPEN, nest(LIMITS.maxDepth)], LIMITS);
        assert.deepEqual(recorder.errors(), []);
        assert.equal(recorder.stanzas().length, 1);
      });

      test('one level deeper is a policy-violation, reported before the stanza closes', () => {
        const recorder = parseChunks([STREAM_OPEN, '<a>'.repeat(LIMITS.maxDepth + 1)], LIMITS);
        assert.equal(recorder.errors().length, 1);
        assert.equal(recorder.errors()[0]?.condition, 'policy-violation');
        assert.deepEqual(recorder.stanzas(), []);
      });

      test('deep nesting of self-closing elements counts too', () => {
        const recorder = parseChunks([STREAM_OPEN, `${'<a>'.repeat(LIMITS.maxDepth)}<b/>`], LIMITS);
        assert.equal(recorder.errors()[0]?.condition, 'policy-violation');
      });
    });
  });
}
