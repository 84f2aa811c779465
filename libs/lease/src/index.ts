export { type NodeLease, type HeartbeatOutcome, type LeaseTableOptions, LeaseTable } from './lease-table.js';
export { type LockView, type PlanInput, type PlanAction, fairShare, preference, isFree, planShards } from './shard-planner.js';
export { type ShardKeyView, type LivenessView, type JudgeInput, type PurgeInput, judgeLocks, deathsToDeclare, livenessToPurge, livenessToRetire } from './shard-liveness.js';
