#!/usr/bin/env node
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { failed, runChaos, type ChaosOptions } from './run.js';
import { writeChaosReport } from './chaos-report.js';
import { SCENARIOS } from './scenarios.js';

const USAGE = `npm run chaos -- [--users N] [--contacts K] [--trials T] [--scenarios a,b] [--nodes N] [--authorities N] [--nats N] [--out DIR] [--echo]

Starts a cluster (default: 3 NATS servers, 3 authority replicas, 3 connection nodes), logs in a
population of real XMPP clients (default 2000 users, 20 mutual contacts each), runs every scenario
several times, checks DESIGN.md's five invariants and writes report.json, summary.md and latency.svg.
Exits 1 if any invariant fails, 2 on bad arguments.

Scenarios: ${SCENARIOS.map((s) => `${s.name} (${s.description})`).join('; ')}`;

function int(v: string | undefined, fallback: number, name: string): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`--${name} must be a positive integer, got ${v}`);
  return n;
}

async function main(): Promise<number> {
  let options: ChaosOptions;
  let out: string;
  try {
    const { values } = parseArgs({
      options: {
        users: { type: 'string' }, contacts: { type: 'string' }, trials: { type: 'string' }, scenarios: { type: 'string' },
        nodes: { type: 'string' }, authorities: { type: 'string' }, nats: { type: 'string' }, out: { type: 'string' },
        echo: { type: 'boolean' }, help: { type: 'boolean' },
      },
    });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    options = {
      users: int(values.users, 2000, 'users'),
      contacts: int(values.contacts, 20, 'contacts'),
      trials: int(values.trials, 3, 'trials'),
      scenarios: values.scenarios?.split(',') ?? SCENARIOS.map((s) => s.name),
      nodes: int(values.nodes, 3, 'nodes'),
      authorities: int(values.authorities, 3, 'authorities'),
      natsServers: int(values.nats, 3, 'nats'),
      echo: values.echo ?? false,
      log: (line) => console.log(line),
    };
    const unknown = options.scenarios.filter((n) => !SCENARIOS.some((s) => s.name === n));
    if (unknown.length > 0) throw new RangeError(`unknown scenario ${unknown.join(', ')}`);
    out = values.out ?? join(fileURLToPath(new URL('../../results', import.meta.url)), `chaos-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  } catch (e) {
    console.error(`${e instanceof Error ? e.message : String(e)}\n\n${USAGE}`);
    return 2;
  }
  const startedAt = new Date().toISOString();
  const outcomes = await runChaos(options);
  const md = await writeChaosReport(out, options, outcomes, startedAt);
  console.log(`\n${md}\nreport: ${out}`);
  return outcomes.some(failed) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
