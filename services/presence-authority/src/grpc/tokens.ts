import { ConfigError } from '@vigil/config';

/** What a bearer token allows: `read` the Get/List/Watch calls, `admin` everything. */
export type Scope = 'read' | 'admin';

export interface ApiToken {
  /** Who the token was given to; appears in logs, never the token itself. */
  readonly name: string;
  readonly scope: Scope;
  readonly token: string;
}

/** Shorter secrets are refused at start: a token is a password that never expires. */
export const MIN_TOKEN_LENGTH = 16;

/**
 * `name:scope:token` entries separated by commas or newlines; blank lines and
 * lines starting with '#' are skipped (a mounted secret file may carry
 * comments). A malformed entry is a start-up error naming `setting`.
 */
export function parseTokens(text: string, setting: string): ApiToken[] {
  const out: ApiToken[] = [];
  for (const raw of text.split(/[,\n]/)) {
    const entry = raw.trim();
    if (entry === '' || entry.startsWith('#')) continue;
    const [name, scope, ...rest] = entry.split(':');
    const token = rest.join(':');
    if (name === undefined || name === '' || scope === undefined || token === '') {
      throw new ConfigError(setting, `expected name:scope:token, got an entry of ${entry.length} characters`);
    }
    if (scope !== 'read' && scope !== 'admin') throw new ConfigError(setting, `token ${name}: scope must be read or admin, got ${JSON.stringify(scope)}`);
    if (token.length < MIN_TOKEN_LENGTH) throw new ConfigError(setting, `token ${name}: at least ${MIN_TOKEN_LENGTH} characters`);
    if (out.some((t) => t.name === name)) throw new ConfigError(setting, `token name ${name} appears twice`);
    out.push({ name, scope, token });
  }
  return out;
}
