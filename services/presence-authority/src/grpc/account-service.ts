import { status } from '@grpc/grpc-js';
import type { api } from '@vigil/proto';
import { AccountExistsError, type AccountStore } from '@vigil/store';
import { jid, JidError } from '@vigil/xmpp';
import { ApiError } from './errors.js';
import { unary, type HandlerContext } from './handlers.js';
import type { OwnerClient } from './owner-client.js';

/** The same bounds as XEP-0077 registration on the connection nodes. */
const MIN_PASSWORD = 4;
const MAX_PASSWORD = 1024;
const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;

export interface AccountServiceDeps extends HandlerContext {
  readonly owners: OwnerClient;
  readonly accounts: AccountStore;
  readonly domain: string;
  readonly scramIterations: number;
}

/** vigil.presence.v1.AccountService. Passwords are hashed here and never stored or logged. */
export function accountService(d: AccountServiceDeps): api.account.AccountServiceServer {
  const username = (raw: string): string => {
    if (raw === '') throw ApiError.invalid('username', 'a username is required');
    try {
      return jid(raw, d.domain).local;
    } catch (e) {
      if (e instanceof JidError) throw ApiError.invalid('username', `not a valid JID localpart: ${e.message}`);
      throw e;
    }
  };
  const password = (raw: string): string => {
    if (raw.length < MIN_PASSWORD || raw.length > MAX_PASSWORD) throw ApiError.invalid('password', `${MIN_PASSWORD} to ${MAX_PASSWORD} characters`);
    return raw;
  };
  return {
    createAccount: unary(d, 'CreateAccount', 'admin', async (req: api.account.CreateAccountRequest) => {
      const u = username(req.username);
      const p = password(req.password);
      try {
        await d.accounts.create(u, p, d.scramIterations);
      } catch (e) {
        if (e instanceof AccountExistsError) throw new ApiError(status.ALREADY_EXISTS, `account ${u} exists`, { resource: { type: 'account', name: u } });
        throw e;
      }
      d.log.info('account created through the API', { user: u });
      return { jid: `${u}@${d.domain}` };
    }),

    deleteAccount: unary(d, 'DeleteAccount', 'admin', async (req: api.account.DeleteAccountRequest, call) => {
      const bare = `${username(req.username)}@${d.domain}`;
      const a = await d.owners.ask(d.owners.shardOf(bare), { $case: 'removeAccount', removeAccount: { bareJid: bare } }, 'removeAccount', call.getDeadline());
      return { sessionsEnded: a.removeAccount.sessionsEnded, itemsRemoved: a.removeAccount.itemsRemoved };
    }),

    setPassword: unary(d, 'SetPassword', 'admin', async (req: api.account.SetPasswordRequest) => {
      const u = username(req.username);
      const p = password(req.password);
      if (!(await d.accounts.exists(u))) throw ApiError.notFound('account', u);
      await d.accounts.setPassword(u, p, d.scramIterations);
      d.log.info('password set through the API', { user: u });
      return {};
    }),

    listAccounts: unary(d, 'ListAccounts', 'read', async (req: api.account.ListAccountsRequest) => {
      if (req.pageSize > MAX_PAGE) throw ApiError.invalid('page_size', `at most ${MAX_PAGE}`);
      const size = req.pageSize === 0 ? DEFAULT_PAGE : req.pageSize;
      let after = '';
      if (req.pageToken !== '') {
        try {
          after = Buffer.from(req.pageToken, 'base64url').toString('utf8');
        } catch {
          throw ApiError.invalid('page_token', 'not a token this server issued');
        }
      }
      const page = await d.accounts.list(after, size);
      const last = page.usernames.at(-1);
      return { usernames: page.usernames, nextPageToken: page.more && last !== undefined ? Buffer.from(last, 'utf8').toString('base64url') : '' };
    }),
  };
}
