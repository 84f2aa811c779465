/** SASL pieces shared by the mechanisms (RFC 6120 §6). */

/** RFC 6120 §6.5: the defined SASL failure conditions. */
export type SaslCondition =
  | 'aborted'
  | 'account-disabled'
  | 'credentials-expired'
  | 'encryption-required'
  | 'incorrect-encoding'
  | 'invalid-authzid'
  | 'invalid-mechanism'
  | 'malformed-request'
  | 'mechanism-too-weak'
  | 'not-authorized'
  | 'temporary-auth-failure';

/** A failed SASL step; the connection node answers with `<failure><condition/></failure>`. */
export class SaslFailure extends Error {
  constructor(
    readonly condition: SaslCondition,
    message: string,
  ) {
    super(message);
    this.name = 'SaslFailure';
  }
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Decode UTF-8, refusing ill-formed input instead of papering over it with U+FFFD. */
export function decodeUtf8(bytes: Buffer, what: string): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new SaslFailure('incorrect-encoding', `${what} is not valid UTF-8`);
  }
}

/**
 * RFC 4616 §2: message = [authzid] NUL authcid NUL passwd. The authcid and
 * password must be non-empty and no part may contain NUL.
 */
export function parsePlain(message: Buffer): { authzid: string; authcid: string; password: string } {
  const text = decodeUtf8(message, 'PLAIN message');
  const parts = text.split('\0');
  if (parts.length !== 3) {
    throw new SaslFailure('malformed-request', 'PLAIN message must have exactly three NUL-separated parts');
  }
  const [authzid = '', authcid = '', password = ''] = parts;
  if (authcid === '') throw new SaslFailure('malformed-request', 'PLAIN authcid is empty');
  if (password === '') throw new SaslFailure('malformed-request', 'PLAIN password is empty');
  return { authzid, authcid, password };
}
