import { createHash } from 'node:crypto';
import { status, type Metadata } from '@grpc/grpc-js';
import { ApiError } from './errors.js';
import type { ApiToken, Scope } from './tokens.js';

const digest = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');

/**
 * Bearer tokens (`authorization: Bearer <token>`). Tokens are looked up by
 * their SHA-256, so the comparison time says nothing about how much of a
 * guess was right.
 */
export class TokenAuthenticator {
  readonly #byDigest: ReadonlyMap<string, ApiToken>;

  constructor(tokens: readonly ApiToken[]) {
    this.#byDigest = new Map(tokens.map((t) => [digest(t.token), t] as const));
  }

  /** The token presented, if it allows `needed`; UNAUTHENTICATED or PERMISSION_DENIED otherwise. */
  authenticate(metadata: Metadata, needed: Scope): ApiToken {
    const values = metadata.get('authorization');
    const header = values.length === 1 && typeof values[0] === 'string' ? values[0] : undefined;
    const m = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (m === null || m[1] === undefined) throw new ApiError(status.UNAUTHENTICATED, 'send "authorization: Bearer <token>" metadata');
    const token = this.#byDigest.get(digest(m[1]));
    if (token === undefined) throw new ApiError(status.UNAUTHENTICATED, 'unknown token');
    if (needed === 'admin' && token.scope !== 'admin') throw new ApiError(status.PERMISSION_DENIED, `token ${token.name} has scope ${token.scope}; this call needs admin`);
    return token;
  }
}
