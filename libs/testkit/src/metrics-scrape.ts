/** One sample of the Prometheus text exposition format. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/**
 * Parses the Prometheus text format (what /metrics serves): comments and
 * blank lines skipped, label values unescaped. Throws on a line it cannot
 * read, naming it, so a malformed exposition fails the test that scraped it.
 */
export function parsePrometheusText(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/.exec(line);
    if (!m || m[1] === undefined || m[3] === undefined) throw new Error(`unreadable metrics line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/g;
    for (let l = re.exec(m[2] ?? ''); l !== null; l = re.exec(m[2] ?? '')) {
      labels[l[1] ?? ''] = (l[2] ?? '').replace(/\\n/g, '\n').replace(/\\(["\\])/g, '$1');
    }
    const value = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]);
    if (Number.isNaN(value) && m[3] !== 'NaN') throw new Error(`unreadable metrics value: ${JSON.stringify(line)}`);
    out.push({ name: m[1], labels, value });
  }
  return out;
}

/** A scrape of one process: samples, summed by name and matching labels. */
export class MetricsScrape {
  constructor(readonly samples: readonly Sample[]) {}

  /** Sum of every sample named `name` whose labels include `labels`; 0 when none. */
  value(name: string, labels: Readonly<Record<string, string>> = {}): number {
    return this.samples
      .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
      .reduce((sum, s) => sum + s.value, 0);
  }

  has(name: string): boolean {
    return this.samples.some((s) => s.name === name);
  }
}

/** GETs `<baseUrl>/metrics` and parses it. */
export async function scrapeMetrics(baseUrl: string): Promise<MetricsScrape> {
  const res = await fetch(`${baseUrl}/metrics`);
  if (res.status !== 200) throw new Error(`${baseUrl}/metrics answered ${res.status}`);
  return new MetricsScrape(parsePrometheusText(await res.text()));
}

/** GETs a probe path; resolves with its status and JSON body. */
export async function probe(baseUrl: string, path: '/livez' | '/readyz'): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${baseUrl}${path}`);
  return { status: res.status, body: (await res.json()) as unknown };
}
