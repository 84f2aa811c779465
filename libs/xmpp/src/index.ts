export { Element, el, escapeAttr, escapeText, type XmlNode } from './element.js';
export { StreamError, type StreamErrorCondition } from './stream-error.js';
export {
  StreamParser,
  decodeUtf8Chunk,
  type StreamParserHandlers,
  type StreamParserLimits,
  type StreamParserOptions,
} from './parser.js';
export { Jid, JidError, jid, parseJid, parseJidOrError, tryParseJid } from './jid.js';
export { SaslFailure, parsePlain, type SaslCondition } from './sasl.js';
export {
  deriveScramCredential,
  deriveScramCredentialSync,
  verifyPassword,
  verifyPasswordSync,
  type ScramCredential,
  type ScramHash,
} from './scram-credential.js';
export { ScramServerSession, type CredentialLookup, type ScramSessionOptions } from './scram.js';
export {
  DEFAULT_ERROR_TYPE,
  NS,
  STREAM_CLOSE,
  StanzaError,
  errorReply,
  iqResult,
  saslFailureXml,
  streamErrorXml,
  streamHeader,
  withTo,
  type StanzaErrorCondition,
  type StanzaErrorType,
} from './stanzas.js';
export { parseStanza } from './parse-stanza.js';
export { pooledRandomBytes, randomToken } from './random-pool.js';
