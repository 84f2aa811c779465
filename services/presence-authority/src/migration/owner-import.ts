import type { Msg } from '@nats-io/transport-node';
import { admin, clusterMigration, type store } from '@vigil/proto';
import { shardFromSubject, shardOf, type Subjects } from '@vigil/cluster';
import { itemFromWire, type PendingSubscription, type RosterRecord } from '@vigil/store';
import type { AuthorityContext } from '../context.js';
import { localpartOf } from '../stanza-text.js';
import { sameRecord } from './records.js';

const Code = admin.AdminErrorCode;
/** Records in one request; the sender splits larger imports (and stays under NATS max_payload). */
export const MAX_IMPORT_RECORDS = 500;

export interface OwnerImportDeps {
  readonly ctx: AuthorityContext;
  readonly subjects: Subjects;
  /** The epoch at which this replica owns a shard, undefined when it does not. */
  readonly epochOf: (shard: number) => number | undefined;
}

/**
 * The owner side of MigrationService.Import (`<p>.shard.<n>.import`): each
 * record replaces the user's roster, pending requests and block list, in
 * the user's queue and through the roster cache, so it cannot interleave
 * with the user's own roster changes. A record equal to what is stored is
 * not written (re-imports leave the roster version alone).
 */
export class OwnerImport {
  constructor(private readonly deps: OwnerImportDeps) {}

  handle(m: Msg): void {
    const shard = shardFromSubject(m.subject, this.deps.subjects.prefix) ?? -1;
    void this.#answer(shard, m.data).then((res) => m.respond(clusterMigration.ImportRecordsResponse.encode(res).finish()));
  }

  async #answer(shard: number, data: Uint8Array): Promise<clusterMigration.ImportRecordsResponse> {
    const fail = (code: admin.AdminErrorCode, message: string, field = ''): clusterMigration.ImportRecordsResponse => ({
      result: { $case: 'error', error: { code, message, field, resourceType: '', resourceName: '' } },
    });
    let req: clusterMigration.ImportRecordsRequest;
    try {
      req = clusterMigration.ImportRecordsRequest.decode(data);
    } catch (e) {
      this.deps.ctx.log.warn('malformed import request', { shard, err: e });
      return fail(Code.ADMIN_ERROR_CODE_INVALID_ARGUMENT, 'malformed request');
    }
    const epoch = this.deps.epochOf(shard);
    if (epoch === undefined) return fail(Code.ADMIN_ERROR_CODE_UNAVAILABLE, `shard ${shard} is changing owner; retry`);
    if (req.records.length > MAX_IMPORT_RECORDS) return fail(Code.ADMIN_ERROR_CODE_INVALID_ARGUMENT, `more than ${MAX_IMPORT_RECORDS} records`, 'records');
    for (const [i, r] of req.records.entries()) {
      if (shardOf(r.bareJid, this.deps.ctx.config.shardCount) !== shard) return fail(Code.ADMIN_ERROR_CODE_INVALID_ARGUMENT, `${r.bareJid} is not in shard ${shard}`, `records[${i}]`);
    }
    try {
      const outcomes = await Promise.all(req.records.map((r) => this.#write(r, shard, epoch)));
      const changed = outcomes.filter((c) => c).length;
      return { result: { $case: 'done', done: { changed, unchanged: outcomes.length - changed } } };
    } catch (e) {
      if (e instanceof NotOwned) return fail(Code.ADMIN_ERROR_CODE_UNAVAILABLE, e.message);
      this.deps.ctx.log.error('import of roster records failed', { shard, err: e });
      return fail(Code.ADMIN_ERROR_CODE_INTERNAL, 'internal error');
    }
  }

  /** Writes one record in its user's queue; true when it changed anything. */
  #write(r: clusterMigration.ImportedRecord, shard: number, epoch: number): Promise<boolean> {
    const local = localpartOf(r.bareJid);
    return new Promise<boolean>((resolve, reject) => {
      void this.deps.ctx.queue.run(r.bareJid, async () => {
        try {
          if (this.deps.epochOf(shard) !== epoch) throw new NotOwned(shard);
          let changed = false;
          await this.deps.ctx.records.update(local, (current) => {
            const next = imported(current, r.roster, this.deps.ctx.wallNowMs());
            changed = next !== undefined;
            return next;
          });
          resolve(changed);
        } catch (e) {
          reject(e);
        }
      });
    });
  }
}

class NotOwned extends Error {
  constructor(shard: number) {
    super(`shard ${shard} changed owner during the import; retry`);
    this.name = 'NotOwned';
  }
}

/** The record the import asks for, or undefined when `current` already is it. Pending requests already there keep their arrival time. */
export function imported(current: RosterRecord, wire: store.StoredRoster | undefined, nowMs: number): RosterRecord | undefined {
  const pendingIn: PendingSubscription[] = (wire?.pendingIn ?? []).map((p) => {
    const before = current.pendingIn.find((q) => q.fromBareJid === p.fromBareJid && q.stanzaXml === p.stanzaXml);
    return { fromBareJid: p.fromBareJid, stanzaXml: p.stanzaXml, receivedAtUnixMs: before?.receivedAtUnixMs ?? (p.receivedAtUnixMs || nowMs) };
  });
  const next: RosterRecord = {
    roster: { version: current.roster.version, items: (wire?.items ?? []).map(itemFromWire) },
    pendingIn,
    blocked: [...(wire?.blocked ?? [])],
  };
  if (sameRecord(current, next)) return undefined;
  return { ...next, roster: { ...next.roster, version: current.roster.version + 1 } };
}
