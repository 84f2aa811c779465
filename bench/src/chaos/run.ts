import { performance } from 'node:perf_hooks';
import { Cluster } from '@vigil/testkit';
import { summarize, type LatencySummary } from '../report.js';
import { runPool } from '../pool.js';
import { checkTrial, type Observation, type TrialResult } from './checker.js';
import { loginAll, provisionRing, ringContacts, waitConverged, type Member } from './population.js';
import { LEASE_MS, LOCK_TTL_MS, SCENARIOS, SELF_FENCE_MS, type Scenario } from './scenarios.js';

export interface ChaosOptions {
  readonly users: number;
  readonly contacts: number;
  readonly trials: number;
  readonly scenarios: readonly string[];
  readonly nodes: number;
  readonly authorities: number;
  readonly natsServers: number;
  readonly echo?: boolean;
  readonly log?: (line: string) => void;
}

export interface ScenarioOutcome {
  readonly scenario: string;
  readonly description: string;
  readonly trials: TrialResult[];
  readonly latency: LatencySummary | undefined;
  readonly totals: { expected: number; missing: number; duplicate: number; leaked: number; falseOffline: number; zombie: number; unconverged: number };
}

/** Convergence bound of DESIGN.md: node lease + shard lock TTL + 2 s. */
const QUIET_MS = LEASE_MS + LOCK_TTL_MS + 2000;
const ANNOUNCE_DEADLINE_MS = LEASE_MS + LOCK_TTL_MS + 10_000;

/**
 * Starts a cluster, logs in a population, then for each scenario and trial:
 * converge, inject the fault, wait for what must be announced and then a
 * quiet period, check the five invariants, recover.
 */
export async function runChaos(o: ChaosOptions): Promise<ScenarioOutcome[]> {
  const log = o.log ?? (() => undefined);
  const scenarios = o.scenarios.map((name) => {
    const s = SCENARIOS.find((x) => x.name === name);
    if (!s) throw new RangeError(`unknown scenario ${name}; known: ${SCENARIOS.map((x) => x.name).join(', ')}`);
    return s;
  });
  const cluster = await Cluster.start({
    nodes: o.nodes, authorities: o.authorities, natsServers: o.natsServers, readyTimeoutMs: 60_000, echo: o.echo ?? false,
    // Node 1's NATS links go through a relay the partition scenario can cut (only when that scenario runs).
    ...(scenarios.some((s) => s.needs?.partitionable === true) ? { partitionable: [0] } : {}),
  });
  const members: Member[] = [];
  try {
    const contacts = ringContacts(o.users, o.contacts, cluster.domain);
    log(`provisioning ${o.users} users with ${o.contacts} contacts each`);
    await provisionRing(cluster, contacts);
    for (const [i, bare] of [...contacts.keys()].entries()) {
      members.push({ user: bare.split('@')[0] as string, bare, node: i % o.nodes, client: undefined, endedAt: undefined });
    }
    const kept = o.contacts * 6 + 64;
    const outcomes: ScenarioOutcome[] = [];
    for (const scenario of scenarios) {
      if (!fits(scenario, o)) {
        log(`skipping ${scenario.name}: needs ${JSON.stringify(scenario.needs)}`);
        continue;
      }
      const trials: TrialResult[] = [];
      for (let trial = 0; trial < o.trials; trial++) {
        await loginAll(cluster, members, kept);
        await waitConverged(members, contacts, 60_000);
        const result = await runTrial(cluster, members, contacts, scenario, trial);
        log(`${scenario.name} #${trial + 1}: expected ${result.expected}, missing ${result.missing}, leaked ${result.leaked}, false offline ${result.falseOffline}, zombie ${result.zombie}`);
        trials.push(result);
      }
      outcomes.push(outcome(scenario, trials));
    }
    return outcomes;
  } finally {
    for (const m of members) m.client?.destroy();
    await cluster.stop();
  }
}

function fits(s: Scenario, o: ChaosOptions): boolean {
  return (s.needs?.natsServers ?? 1) <= o.natsServers && (s.needs?.authorities ?? 1) <= o.authorities;
}

async function runTrial(cluster: Cluster, members: Member[], contacts: Map<string, Set<string>>, scenario: Scenario, trial: number): Promise<TrialResult> {
  const marks = new Map(members.map((m) => [m.bare, m.client?.presences.mark() ?? 0]));
  const fullJid = new Map(members.map((m) => [m.bare, m.client?.jid ?? '']));
  const faultAt = performance.now();
  const fault = await scenario.inject(cluster, members, trial);
  const live = new Set(members.filter((m) => !fault.dead.has(m.bare) && m.client?.phase === 'live').map((m) => m.bare));
  // Wait (bounded) for every announcement the fault calls for, then a quiet period for anything else to show.
  const expected: [Member, string][] = [];
  for (const d of fault.dead) {
    for (const c of contacts.get(d) ?? []) {
      const observer = members.find((m) => m.bare === c);
      if (observer && live.has(c)) expected.push([observer, fullJid.get(d) ?? '']);
    }
  }
  await runPool(expected.length, { concurrency: 256, deadline: performance.now() + ANNOUNCE_DEADLINE_MS }, async (i) => {
    const [observer, jid] = expected[i] as [Member, string];
    await observer.client?.waitForPresence(jid, 'unavailable', ANNOUNCE_DEADLINE_MS, marks.get(observer.bare) ?? 0).catch(() => undefined);
  });
  await new Promise((resolve) => setTimeout(resolve, QUIET_MS));
  const observations: Observation[] = [];
  const finalView = new Map<string, Map<string, string>>();
  for (const m of members) {
    const records = m.client?.presences.records ?? [];
    const view = new Map<string, string>();
    for (const r of records) {
      if (r.type !== 'available' && r.type !== 'unavailable') continue;
      view.set(r.from, r.type);
      if (r.seq >= (marks.get(m.bare) ?? 0)) observations.push({ observer: m.bare, from: r.from, type: r.type, at: r.at });
    }
    finalView.set(m.bare, view);
  }
  const streamEndedAt = new Map<string, number>();
  for (const m of members) if (fault.dead.has(m.bare) && m.endedAt !== undefined) streamEndedAt.set(m.bare, m.endedAt);
  const result = checkTrial({
    contacts, dead: fault.dead, live, fullJid, observations, faultAt: fault.faultAt ?? faultAt, streamEndedAt, finalView, selfFenceMs: SELF_FENCE_MS,
    ...(fault.resumedAt !== undefined ? { resumedAt: fault.resumedAt } : {}),
  });
  for (const m of members) if (fault.dead.has(m.bare)) m.client?.destroy();
  const reownedMs = fault.reowned === undefined ? undefined : await fault.reowned;
  await fault.recover();
  return reownedMs === undefined ? result : { ...result, reownedMs: Math.round(reownedMs) };
}

function outcome(scenario: Scenario, trials: TrialResult[]): ScenarioOutcome {
  const sum = (k: keyof ScenarioOutcome['totals']) => trials.reduce((n, t) => n + t[k], 0);
  return {
    scenario: scenario.name,
    description: scenario.description,
    trials,
    latency: summarize(trials.flatMap((t) => t.latenciesMs)),
    totals: {
      expected: sum('expected'), missing: sum('missing'), duplicate: sum('duplicate'), leaked: sum('leaked'),
      falseOffline: sum('falseOffline'), zombie: sum('zombie'), unconverged: sum('unconverged'),
    },
  };
}

/** Invariants that must hold; duplicates are reported but allowed after failover (DESIGN.md). */
export function failed(o: ScenarioOutcome): boolean {
  const t = o.totals;
  return t.missing + t.leaked + t.falseOffline + t.zombie + t.unconverged > 0;
}
