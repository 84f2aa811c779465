import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EMPTY_RECORD, type RosterRecord, type RosterRepository, type VersionedRecord } from '@vigil/store';
import { UserRecords } from './user-records.js';

/**
 * The KV bucket as another replica sees it: records written behind this
 * replica's back (`writeElsewhere`), and reads that can be held open.
 */
class SharedBucket implements RosterRepository {
  readonly records = new Map<string, VersionedRecord>();
  reads = 0;
  #revision = 0;
  #held: (() => void)[] = [];
  holdReads = false;

  writeElsewhere(username: string, record: RosterRecord): void {
    this.records.set(username, { record, revision: ++this.#revision });
  }

  async get(username: string): Promise<VersionedRecord> {
    this.reads++;
    const value = this.records.get(username) ?? { record: EMPTY_RECORD, revision: 0 };
    if (this.holdReads) await new Promise<void>((resolve) => this.#held.push(resolve));
    return value;
  }

  async put(username: string, record: RosterRecord, _expected: number): Promise<number> {
    this.writeElsewhere(username, record);
    return this.#revision;
  }

  release(): void {
    for (const r of this.#held.splice(0)) r();
  }
}

const blocking = (...jids: string[]): RosterRecord => ({ ...EMPTY_RECORD, blocked: jids });
/** Alice in shard 1, everyone else in shard 0. */
const shardOf = (localpart: string) => (localpart === 'alice' ? 1 : 0);

test('a shard that changed hands is read again: a block list changed by the other owner is seen', async () => {
  const bucket = new SharedBucket();
  const records = new UserRecords(bucket, 100, shardOf);
  bucket.writeElsewhere('alice', blocking());
  bucket.writeElsewhere('bob', blocking());
  assert.deepEqual((await records.get('alice')).blocked, []);
  await records.get('bob');
  bucket.writeElsewhere('alice', blocking('mallory@localhost')); // another replica owned the shard meanwhile
  assert.deepEqual((await records.get('alice')).blocked, [], 'cached until the shard changes hands');
  records.forgetShard(1);
  assert.equal(records.cached('alice'), undefined, 'missing at once, before the sweep');
  assert.ok(records.cached('bob'), 'other shards keep their cache');
  assert.deepEqual((await records.get('alice')).blocked, ['mallory@localhost']);
});

test('a read in flight when its shard changes hands is not cached; later callers read again', async () => {
  const bucket = new SharedBucket();
  const records = new UserRecords(bucket, 100, shardOf);
  bucket.writeElsewhere('alice', blocking());
  bucket.holdReads = true;
  const early = records.get('alice');
  records.forgetShard(1);
  bucket.writeElsewhere('alice', blocking('mallory@localhost'));
  bucket.holdReads = false;
  const late = records.get('alice');
  bucket.release();
  assert.deepEqual((await early).blocked, [], 'the early caller gets what it read');
  assert.deepEqual((await late).blocked, ['mallory@localhost']);
  assert.equal(bucket.reads, 2);
  assert.deepEqual(records.cached('alice')?.record.blocked, ['mallory@localhost']);
});

test('the sweep at the end of the turn drops every forgotten shard, and only those', async () => {
  const bucket = new SharedBucket();
  const records = new UserRecords(bucket, 100, (localpart) => Number(localpart.slice(1)) % 4);
  const users = Array.from({ length: 12 }, (_, i) => `u${i}`);
  for (const u of users) await records.get(u);
  records.forgetShard(1);
  records.forgetShard(3);
  await Promise.resolve(); // the sweep's microtask
  const readsBefore = bucket.reads;
  assert.deepEqual(users.filter((u) => records.cached(u) !== undefined), ['u0', 'u2', 'u4', 'u6', 'u8', 'u10']);
  assert.equal(bucket.reads, readsBefore);
});
