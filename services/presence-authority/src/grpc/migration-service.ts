import { status, type ServerReadableStream, type ServerWritableStream, type sendUnaryData } from '@grpc/grpc-js';
import { api } from '@vigil/proto';
import { accountFromWire, accountToWire, type PieAccount, type Problem } from '@vigil/pie';
import { fromStored, itemFromWire, type AccountStore, type RosterRecord } from '@vigil/store';
import { bareOf } from '@vigil/roster';
import { ApiError } from './errors.js';
import { asApiError, authenticateStream, type HandlerContext } from './handlers.js';
import type { OwnerClient } from './owner-client.js';
import { exportedAccount } from '../migration/convert.js';
import { ImportFailure, mapLimit, runImport, type ImporterDeps } from '../migration/importer.js';
import type { ScramHash } from '@vigil/xmpp';

const M = api.migration;
const DEFAULT_EXPORT_PAGE = 100;
const MAX_EXPORT_PAGE = 1000;
/** Roster reads in flight during an export. */
const EXPORT_CONCURRENCY = 16;
/** A page is split into messages of about this size, well under the 4 MiB default limit (long rosters make big accounts). */
const EXPORT_MESSAGE_BYTES = 1024 * 1024;

/** Consecutive runs of accounts whose encoded size stays under `limit` (one account per run at least). */
function bySize(accounts: readonly api.migration.PortableAccount[], limit: number): api.migration.PortableAccount[][] {
  const out: api.migration.PortableAccount[][] = [];
  let run: api.migration.PortableAccount[] = [];
  let bytes = 0;
  for (const a of accounts) {
    const size = M.PortableAccount.encode(a).finish().length;
    if (run.length > 0 && bytes + size > limit) {
      out.push(run);
      [run, bytes] = [[], 0];
    }
    run.push(a);
    bytes += size;
  }
  if (run.length > 0) out.push(run);
  return out;
}

export interface MigrationServiceDeps extends HandlerContext {
  readonly importer: Omit<ImporterDeps, 'log'>;
  readonly owners: OwnerClient;
  readonly accounts: AccountStore;
  readonly domain: string;
  readonly maxAccounts: number;
}

/** vigil.presence.v1.MigrationService; scope admin for both calls (an export holds every account's keys). */
export function migrationService(d: MigrationServiceDeps): api.migration.MigrationServiceServer {
  // One import at a time per replica: each may hold a few hundred MB and every CPU while it hashes.
  let importing = false;
  return {
    import: (call: ServerReadableStream<api.migration.ImportRequest, api.migration.ImportResponse>, callback: sendUnaryData<api.migration.ImportResponse>) => {
      let answered = false;
      const answer = (e: unknown, res?: api.migration.ImportResponse): void => {
        if (answered) return;
        answered = true;
        if (e === undefined && res !== undefined) callback(null, res);
        else callback(asApiError(e, d.log, 'Import').toStatus());
      };
      try {
        authenticateStream(d, call.metadata, 'admin');
        if (importing) throw new ApiError(status.RESOURCE_EXHAUSTED, 'another import is running on this replica; retry when it is done');
      } catch (e) {
        return answer(e);
      }
      importing = true;
      let options: api.migration.ImportOptions | undefined;
      const accounts: PieAccount[] = [];
      const wireProblems: Problem[] = [];
      // The slot is held while batches arrive and while the import is applied; a client gone meanwhile frees it only in the first case.
      let applying = false;
      const release = (): void => {
        importing = false;
      };
      const releaseIfReceiving = (): void => {
        if (!applying) release();
      };
      call.on('data', (req: api.migration.ImportRequest) => {
        if (answered) return;
        try {
          const part = req.part;
          if (part?.$case === 'options') {
            if (options !== undefined) throw ApiError.invalid('options', 'sent twice: options come once, first');
            if (part.options.domain !== '' && part.options.domain.toLowerCase() !== d.domain) {
              throw ApiError.invalid('options.domain', `the accounts are of ${part.options.domain}, this cluster serves ${d.domain} (JIDs are not renamed on import)`);
            }
            options = part.options;
          } else if (part?.$case === 'batch') {
            if (options === undefined) throw ApiError.invalid('options', 'the first message must carry the options');
            if (accounts.length + part.batch.accounts.length > d.maxAccounts) throw ApiError.invalid('batch.accounts', `more than ${d.maxAccounts} accounts in one import`);
            for (const a of part.batch.accounts) accounts.push(accountFromWire(a, accounts.length, wireProblems));
          } else {
            throw ApiError.invalid('part', 'a message with neither options nor batch');
          }
        } catch (e) {
          release();
          answer(e);
        }
      });
      call.on('error', releaseIfReceiving);
      call.on('cancelled', releaseIfReceiving);
      call.on('end', () => {
        if (answered) return;
        if (options === undefined) {
          release();
          return answer(ApiError.invalid('options', 'the stream ended before the options'));
        }
        const chosen = options;
        applying = true;
        void runImport({ ...d.importer, log: d.log }, accounts, wireProblems, chosen)
          .then(
            (res) => answer(undefined, res),
            (e: unknown) => {
              if (e instanceof ImportFailure && e.kind === 'unavailable') return answer(ApiError.unavailable(e.message, d.importer.retryAfterMs));
              answer(e);
            },
          )
          .finally(release);
      });
    },

    export: (call: ServerWritableStream<api.migration.ExportRequest, api.migration.ExportResponse>) => {
      void (async () => {
        try {
          authenticateStream(d, call.metadata, 'admin');
          const req = call.request;
          if (req.pageSize > MAX_EXPORT_PAGE) throw ApiError.invalid('page_size', `at most ${MAX_EXPORT_PAGE}`);
          const size = req.pageSize === 0 ? DEFAULT_EXPORT_PAGE : req.pageSize;
          let cancelled = false;
          call.on('cancelled', () => {
            cancelled = true;
          });
          const usernames = await d.accounts.usernames();
          if (usernames.length === 0) call.write({ domain: d.domain, accounts: [] });
          for (let i = 0; i < usernames.length && !cancelled; i += size) {
            const page = await mapLimit(usernames.slice(i, i + size), EXPORT_CONCURRENCY, (u) => exportOne(d, u, call.getDeadline()));
            const accounts = page.filter((a): a is PieAccount => a !== undefined).map(accountToWire);
            for (const chunk of bySize(accounts, EXPORT_MESSAGE_BYTES)) {
              if (!call.write({ domain: d.domain, accounts: chunk })) await new Promise((resolve) => call.once('drain', resolve));
            }
          }
          call.end();
        } catch (e) {
          call.emit('error', asApiError(e, d.log, 'Export').toStatus());
        }
      })();
    },
  };
}

/** One account with its roster record, read through the owner; undefined when it was deleted meanwhile. */
async function exportOne(d: MigrationServiceDeps, username: string, deadline: Parameters<OwnerClient['ask']>[3]): Promise<PieAccount | undefined> {
  const stored = await d.accounts.read(username);
  if (stored === undefined) return undefined;
  const bare = bareOf(`${username}@${d.domain}`);
  let record: RosterRecord;
  try {
    const a = await d.owners.ask(d.owners.shardOf(bare), { $case: 'roster', roster: { bareJid: bare } }, 'roster', deadline);
    const r = a.roster.roster;
    record = {
      roster: { version: r?.version ?? 0, items: (r?.items ?? []).map(itemFromWire) },
      pendingIn: r?.pendingIn ?? [],
      blocked: r?.blocked ?? [],
    };
  } catch (e) {
    if (e instanceof ApiError && e.code === status.NOT_FOUND) return undefined;
    throw e;
  }
  const credentials = stored.account.credentials.filter((c) => c.hash === 'sha1' || c.hash === 'sha256').map((c) => fromStored(c, c.hash as ScramHash));
  return exportedAccount(username, credentials, record);
}
