import type { NatsConnection } from '@nats-io/transport-node';
import { cluster } from '@vigil/proto';
import { subjects } from '@vigil/cluster';

/** One stanza of a fan-out batch as a test checks it: who from, to whom, what presence type ('available' when none). */
export type FannedOut = { readonly from: string; readonly to: string; readonly type: string };

/** Records every stanza of every fan-out batch published on `nc` (subject prefix 'vigil') into `out`, one entry per recipient. */
export function recordFanOuts(nc: NatsConnection, out: FannedOut[]): void {
  nc.subscribe(subjects('vigil').fanOut, {
    callback: (_e, m) => {
      for (const f of cluster.FanOutBatch.decode(m.data).fanOuts) {
        const from = /from='([^']*)'/.exec(f.stanzaXml)?.[1] ?? '';
        const type = /type='([^']*)'/.exec(f.stanzaXml)?.[1] ?? 'available';
        for (const to of f.toJids) out.push({ from, to, type });
      }
    },
  });
}
