import { useState } from 'preact/hooks';
import type { HistogramView, LatencyView } from '../../../src/view.js';
import { bucketLabel, duration, histogramOf, perSecond, quantileText, tickLabel } from '../../../src/latency.js';
import { TableWrap } from '../components.js';
import { age } from '../format.js';

const BAR = 24;
const GAP = 4;
const LEFT = 8;
const TOP = 18;
const PLOT = 110;
const HEIGHT = TOP + PLOT + 24;

/**
 * The histogram as SVG bars: one per bucket, the count above each bar that
 * has one, a few bucket bounds below. For assistive technology it is one
 * image with a summary; the table after it has every number.
 */
function Bars({ h, summary }: { h: HistogramView; summary: string }) {
  const max = Math.max(1, ...h.counts);
  const width = LEFT * 2 + h.counts.length * (BAR + GAP) - GAP;
  return (
    <svg class="histogram" viewBox={`0 0 ${width} ${HEIGHT}`} role="img" aria-label={summary} data-testid="latency-chart">
      <line class="axis" x1={LEFT} x2={width - LEFT} y1={TOP + PLOT + 0.5} y2={TOP + PLOT + 0.5} />
      {h.counts.map((c, i) => {
        const x = LEFT + i * (BAR + GAP);
        const height = c === 0 ? 0 : Math.max(2, (c / max) * PLOT);
        const tick = tickLabel(h.boundsSeconds, i);
        return (
          <g key={i}>
            <rect class="bar" x={x} y={TOP + PLOT - height} width={BAR} height={height}>
              <title>{`${bucketLabel(h.boundsSeconds, i)}: ${c}`}</title>
            </rect>
            {c > 0 && (
              <text class="count" x={x + BAR / 2} y={TOP + PLOT - height - 4}>
                {c}
              </text>
            )}
            {tick !== '' && (
              <text class="tick" x={x + BAR / 2} y={HEIGHT - 6}>
                {tick}
              </text>
            )}
          </g>
        );
      })}
    </svg>
  );
}

function summaryOf(h: HistogramView): string {
  if (h.count === 0) return 'No session end timed yet.';
  const nonEmpty = h.counts.flatMap((c, i) => (c > 0 ? [`${c} ${bucketLabel(h.boundsSeconds, i)}`] : []));
  return `Detection latency of ${h.count} session ends: ${nonEmpty.join('; ')}. The table below lists every bucket.`;
}

/** The detection-latency histogram and the fan-out counters of every authority replica, read at most once a second. */
export function LatencyPanel({ latency }: { latency: LatencyView | undefined }) {
  const [cause, setCause] = useState('all');
  return (
    <section aria-labelledby="latency-h" data-testid="latency">
      <h2 id="latency-h">Latency</h2>
      {latency === undefined ? (
        <p>Waiting for the first reading…</p>
      ) : latency.error !== '' ? (
        <p class="notice error" data-testid="latency-error">
          The metrics could not be read: {latency.error}
        </p>
      ) : (
        <Readings latency={latency} cause={cause} setCause={setCause} />
      )}
    </section>
  );
}

function Readings({ latency, cause, setCause }: { latency: LatencyView; cause: string; setCause: (c: string) => void }) {
  const picked = histogramOf(latency, cause === 'all' || latency.causes.some((c) => c.cause === cause) ? cause : 'all');
  const h: HistogramView = picked ?? { boundsSeconds: [], counts: [0], sumSeconds: 0, count: 0 };
  const all = histogramOf(latency, 'all');
  const unavailable = latency.fanOut.find((f) => f.kind === 'unavailable');
  const available = latency.fanOut.find((f) => f.kind === 'available');
  const replicas = latency.authorities.length;
  return (
    <>
      <h3>Detection latency</h3>
      <p class="hint">
        From the evidence of a death (a lost node's last heartbeat, or the end event of a node) to the end of its unavailable fan-out, for each session
        that ended; {replicas === 1 ? 'from the one authority replica' : `summed over ${replicas} authority replicas`}, since each started.
      </p>
      <form class="inline" onSubmit={(e) => e.preventDefault()}>
        <label for="latency-cause">Cause</label>
        <select id="latency-cause" value={cause} onChange={(e) => setCause(e.currentTarget.value)}>
          <option value="all">all causes ({all?.count ?? 0})</option>
          {latency.causes.map((c) => (
            <option key={c.cause} value={c.cause}>
              {c.cause} ({c.histogram.count})
            </option>
          ))}
        </select>
      </form>
      <p data-testid="latency-summary">
        <strong data-testid="latency-count">{h.count}</strong> session {h.count === 1 ? 'end' : 'ends'} timed
        {h.count > 0 && (
          <>
            ; mean {duration(h.sumSeconds / h.count)}, median {quantileText(h, 0.5)}, 99th percentile {quantileText(h, 0.99)}
          </>
        )}
        .
      </p>
      {h.boundsSeconds.length > 0 && (
        // On a phone the chart keeps a readable size and scrolls sideways, like the tables.
        <TableWrap label="Detection latency chart">
          <Bars h={h} summary={summaryOf(h)} />
        </TableWrap>
      )}
      {h.boundsSeconds.length > 0 && (
        <details>
          <summary>The histogram as a table</summary>
          <TableWrap label="Detection latency by bucket">
            <table class="compact" data-testid="latency-table">
              <thead>
                <tr>
                  <th scope="col">Latency</th>
                  <th scope="col">Session ends</th>
                  <th scope="col">Share</th>
                </tr>
              </thead>
              <tbody>
                {h.counts.map((c, i) => (
                  <tr key={i} data-count={c}>
                    <th scope="row">{bucketLabel(h.boundsSeconds, i)}</th>
                    <td>{c}</td>
                    <td>{h.count > 0 ? `${((100 * c) / h.count).toFixed(1)} %` : '—'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
        </details>
      )}
      <h3>Fan-out</h3>
      <p data-testid="fanout">
        Unavailable presence: <strong data-testid="fanout-total">{unavailable?.total ?? 0}</strong> stanzas sent to contacts, <strong data-testid="fanout-rate">{perSecond(unavailable?.perSecond ?? 0)}</strong>{' '}
        recently. Available presence: {available?.total ?? 0} stanzas, {perSecond(available?.perSecond ?? 0)}.
      </p>
      <TableWrap label="Per authority replica">
        <table data-testid="latency-authorities">
          <thead>
            <tr>
              <th scope="col">Authority</th>
              <th scope="col">Session ends timed</th>
              <th scope="col">Unavailable stanzas</th>
              <th scope="col">Recent rate</th>
            </tr>
          </thead>
          <tbody>
            {latency.authorities.map((a) => (
              <tr key={a.authorityId} data-authority={a.authorityId}>
                <th scope="row">
                  {a.authorityId}
                  {a.incompatible && <span class="hint"> (other histogram buckets: not in the sums)</span>}
                </th>
                <td>{a.detections}</td>
                <td>{a.unavailableStanzas}</td>
                <td>{a.rateWindowMs > 0 ? `${perSecond(a.unavailablePerSecond)} over ${age(a.rateWindowMs)}` : 'not yet (the next reading has one)'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </TableWrap>
      {latency.unanswered.length > 0 && (
        <p class="notice error" data-testid="latency-unanswered">
          No answer in time from {latency.unanswered.join(', ')}: {latency.unanswered.length === 1 ? 'its numbers are' : 'their numbers are'} missing from the sums.
        </p>
      )}
    </>
  );
}
