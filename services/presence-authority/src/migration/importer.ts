/**
 * MigrationService.Import once every batch is in: validate everything,
 * then (unless told otherwise) hash plaintext passwords on worker threads
 * and write accounts while the shard owners write the roster records. Each
 * step is idempotent, so an import that failed part-way is finished by
 * running it again.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { admin, api, clusterMigration } from '@vigil/proto';
import { shardOf, type Subjects } from '@vigil/cluster';
import { validateAccounts, type PieAccount, type Problem } from '@vigil/pie';
import { fromStored, type AccountStore } from '@vigil/store';
import type { Logger } from '@vigil/telemetry';
import type { ScramCredential, ScramHash } from '@vigil/xmpp';
import { hashAll, type HashJob } from './hash-pool.js';
import { recordToWire } from './convert.js';
import { MAX_IMPORT_RECORDS } from './owner-import.js';

export interface ImporterDeps {
  readonly nc: NatsConnection;
  readonly subjects: Subjects;
  readonly accounts: AccountStore;
  readonly domain: string;
  readonly shardCount: number;
  readonly maxRosterItems: number;
  readonly scramIterations: number;
  readonly hashThreads: number;
  /** How long one owner may take for one request of records. */
  readonly ownerTimeoutMs: number;
  readonly retryAfterMs: number;
  readonly log: Logger;
}

/** Problems sent back at most; the count of the rest is reported in one more. */
export const MAX_REPORTED_PROBLEMS = 10_000;
/** Account reads and writes in flight at once. */
const STORE_CONCURRENCY = 64;
/** Owner requests in flight at once. */
const OWNER_CONCURRENCY = 8;
/** Encoded records per owner request, well under NATS's default 1 MiB max_payload. */
const MAX_REQUEST_BYTES = 256 * 1024;
/** Attempts per owner request while its shard changes owner. */
const OWNER_ATTEMPTS = 10;

export class ImportFailure extends Error {
  constructor(
    readonly kind: 'unavailable' | 'internal',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ImportFailure';
  }
}

export async function runImport(d: ImporterDeps, input: readonly PieAccount[], wireProblems: readonly Problem[], options: api.migration.ImportOptions): Promise<api.migration.ImportResponse> {
  const started = performance.now();
  const v = validateAccounts(input, { domain: d.domain, maxRosterItems: d.maxRosterItems });
  const invalid = new Set(v.invalid);
  for (const p of wireProblems) if (p.severity === 'error' && p.account !== undefined) invalid.add(p.account);
  const problems = [...wireProblems, ...v.problems].sort((a, b) => (a.account ?? -1) - (b.account ?? -1));
  const res: api.migration.ImportResponse = {
    applied: false,
    problems: reportable(problems),
    accounts: input.length,
    invalidAccounts: invalid.size,
    accountsCreated: 0,
    accountsUpdated: 0,
    accountsUnchanged: 0,
    rostersChanged: 0,
    rostersUnchanged: 0,
    domain: d.domain,
  };
  if (options.dryRun || (invalid.size > 0 && !options.skipInvalid)) {
    d.log.info('import checked, nothing written', { accounts: input.length, invalid: invalid.size, dryRun: options.dryRun, problems: problems.length });
    return res;
  }
  const chosen = v.accounts.filter((_, i) => !invalid.has(i));
  const validatedMs = performance.now() - started;

  // Accounts (hashing on worker threads, then KV writes) and rosters (through the shard owners, mostly
  // waiting on NATS) do not depend on each other: they run side by side.
  let accountsMs = 0;
  const accountsDone = (async () => {
    const credentials = await credentialsOf(d, chosen);
    const outcomes = await mapLimit(chosen, STORE_CONCURRENCY, (a, i) => d.accounts.importKeys(a.username, credentials[i]));
    accountsMs = performance.now() - started;
    return outcomes;
  })();
  const rostersDone = mapLimit(requests(d, chosen), OWNER_CONCURRENCY, (r) => sendToOwner(d, r.shard, r.records));
  const [outcomes, done] = await Promise.all([accountsDone, rostersDone]);
  res.accountsCreated = outcomes.filter((o) => o === 'created').length;
  res.accountsUpdated = outcomes.filter((o) => o === 'updated').length;
  res.accountsUnchanged = outcomes.filter((o) => o === 'unchanged').length;
  res.rostersChanged = done.reduce((n, x) => n + x.changed, 0);
  res.rostersUnchanged = done.reduce((n, x) => n + x.unchanged, 0);
  res.applied = true;
  d.log.info('import applied', {
    accounts: chosen.length, skipped: invalid.size, created: res.accountsCreated, updated: res.accountsUpdated,
    rostersChanged: res.rostersChanged, validateMs: Math.round(validatedMs), accountsMs: Math.round(accountsMs - validatedMs), totalMs: Math.round(performance.now() - started),
  });
  return res;
}

function reportable(problems: readonly Problem[]): api.migration.ImportProblem[] {
  const out = problems.slice(0, MAX_REPORTED_PROBLEMS).map((p) => ({ error: p.severity === 'error', account: p.account ?? 0, field: p.field, message: p.message }));
  if (problems.length > MAX_REPORTED_PROBLEMS) {
    const rest = problems.slice(MAX_REPORTED_PROBLEMS);
    out.push({ error: rest.some((p) => p.severity === 'error'), account: rest[0]?.account ?? 0, field: '', message: `${rest.length} more problems not listed` });
  }
  return out;
}

/**
 * The keys each account gets: those given in the import, or new ones from
 * its plaintext password (hashed on worker threads; stored keys that already
 * verify the password are kept, so a re-import changes nothing), or
 * undefined to keep what is stored.
 */
async function credentialsOf(d: ImporterDeps, chosen: readonly PieAccount[]): Promise<(readonly ScramCredential[] | undefined)[]> {
  const out: (readonly ScramCredential[] | undefined)[] = chosen.map((a) =>
    a.password === undefined && a.scram.length > 0 ? a.scram.map((c) => ({ hash: c.hash, salt: c.salt, iterations: c.iterations, storedKey: c.storedKey, serverKey: c.serverKey })) : undefined,
  );
  const plain = chosen.flatMap((a, i) => (a.password !== undefined ? [i] : []));
  if (plain.length === 0) return out;
  const existing = await mapLimit(plain, STORE_CONCURRENCY, async (i) => {
    const stored = await d.accounts.read(chosen[i]?.username ?? '');
    return (stored?.account.credentials ?? []).filter((c) => c.hash === 'sha1' || c.hash === 'sha256').map((c) => fromStored(c, c.hash as ScramHash));
  });
  const jobs: HashJob[] = plain.map((i, k) => ({ password: chosen[i]?.password ?? '', iterations: d.scramIterations, existing: existing[k] ?? [] }));
  const hashed = await hashAll(jobs, d.hashThreads);
  for (const [k, i] of plain.entries()) {
    const r = hashed[k];
    out[i] = r === undefined || r.keep ? undefined : r.credentials;
  }
  return out;
}

/** Records grouped by shard, split by count and encoded size. */
function requests(d: ImporterDeps, chosen: readonly PieAccount[]): { shard: number; records: clusterMigration.ImportedRecord[] }[] {
  const byShard = new Map<number, clusterMigration.ImportedRecord[][]>();
  const sizes = new Map<number, number>();
  for (const a of chosen) {
    const bareJid = `${a.username}@${d.domain}`;
    const shard = shardOf(bareJid, d.shardCount);
    const record: clusterMigration.ImportedRecord = { bareJid, roster: recordToWire(a) };
    const bytes = clusterMigration.ImportedRecord.encode(record).finish().length;
    const lists = byShard.get(shard) ?? [[]];
    let last = lists.at(-1) as clusterMigration.ImportedRecord[];
    if (last.length >= MAX_IMPORT_RECORDS || (sizes.get(shard) ?? 0) + bytes > MAX_REQUEST_BYTES) {
      last = [];
      lists.push(last);
      sizes.set(shard, 0);
    }
    last.push(record);
    sizes.set(shard, (sizes.get(shard) ?? 0) + bytes);
    byShard.set(shard, lists);
  }
  return [...byShard].flatMap(([shard, lists]) => lists.filter((l) => l.length > 0).map((records) => ({ shard, records })));
}

async function sendToOwner(d: ImporterDeps, shard: number, records: clusterMigration.ImportedRecord[]): Promise<{ changed: number; unchanged: number }> {
  const body = clusterMigration.ImportRecordsRequest.encode({ records }).finish();
  let last = '';
  for (let attempt = 1; attempt <= OWNER_ATTEMPTS; attempt++) {
    try {
      const reply = await d.nc.request(d.subjects.shardImport(shard), body, { timeout: d.ownerTimeoutMs });
      const result = clusterMigration.ImportRecordsResponse.decode(reply.data).result;
      if (result?.$case === 'done') return result.done;
      if (result?.$case === 'error' && result.error.code !== admin.AdminErrorCode.ADMIN_ERROR_CODE_UNAVAILABLE) {
        throw new ImportFailure('internal', `the owner of shard ${shard} refused the records: ${result.error.message}`);
      }
      last = result?.$case === 'error' ? result.error.message : 'empty answer';
    } catch (e) {
      if (e instanceof ImportFailure) throw e;
      // No responders or no answer in time: the shard is between owners. The write is idempotent, so try again.
      last = e instanceof Error ? e.message : String(e);
    }
    await new Promise((resolve) => setTimeout(resolve, d.retryAfterMs));
  }
  throw new ImportFailure('unavailable', `shard ${shard} did not take the imported rosters after ${OWNER_ATTEMPTS} attempts (${last})`);
}

/** `fn` over `items` with at most `limit` promises pending; results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return out;
}
