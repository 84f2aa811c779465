export { fnv1a32, deliveryToken } from './hash.js';
export { DEFAULT_SHARD_COUNT, shardOf } from './shards.js';
export { type SessionDigest, EMPTY_DIGEST, digestAdd, digestRemove, digestOf, digestEquals, digestKey } from './digest.js';
export { type Subjects, type ShardSubjectKind, SubjectError, subjects, shardFromSubject, isValidNodeId } from './subjects.js';
export { BUCKETS, userKey, userFromKey } from './buckets.js';
