export { type NodeLease, type HeartbeatOutcome, type LeaseTableOptions, LeaseTable } from './lease-table.js';
