import { createServer, connect, type Server, type Socket } from 'node:net';

interface Pair {
  readonly client: Socket;
  upstream: Socket | undefined;
}

/**
 * A TCP relay between one process and one NATS server that can be cut like
 * a network partition: while cut, bytes in both directions are silently
 * dropped and new connections are accepted but never answered, so the
 * process sees its NATS connection stall (no reset, no close), as behind a
 * dropped route. Healing drops every relayed connection, as a real
 * partition leaves them broken, and relays fresh ones again.
 */
export class PartitionableLink {
  #cut = false;
  readonly #pairs = new Set<Pair>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly upstreamPort: number,
    private readonly upstreamHost: string,
  ) {
    server.on('connection', (client) => this.#accept(client));
  }

  static async start(upstreamUrl: string): Promise<PartitionableLink> {
    const u = new URL(upstreamUrl);
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('relay has no TCP address');
    return new PartitionableLink(server, address.port, Number(u.port), u.hostname);
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  get isCut(): boolean {
    return this.#cut;
  }

  cut(): void {
    this.#cut = true;
  }

  heal(): void {
    this.#cut = false;
    for (const p of [...this.#pairs]) this.#drop(p);
  }

  async close(): Promise<void> {
    for (const p of [...this.#pairs]) this.#drop(p);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  #accept(client: Socket): void {
    const pair: Pair = { client, upstream: undefined };
    this.#pairs.add(pair);
    client.on('error', () => undefined);
    client.on('close', () => this.#drop(pair));
    if (this.#cut) return; // held open, never answered
    const upstream = connect({ port: this.upstreamPort, host: this.upstreamHost });
    pair.upstream = upstream;
    upstream.on('error', () => undefined);
    upstream.on('close', () => this.#drop(pair));
    client.on('data', (d) => {
      if (!this.#cut) upstream.write(d);
    });
    upstream.on('data', (d) => {
      if (!this.#cut) client.write(d);
    });
  }

  #drop(p: Pair): void {
    if (!this.#pairs.delete(p)) return;
    p.client.destroy();
    p.upstream?.destroy();
  }
}

/** Every NATS link of one process, cut and healed together. */
export class NatsPartition {
  constructor(readonly links: readonly PartitionableLink[]) {}

  static async start(natsUrls: string): Promise<NatsPartition> {
    return new NatsPartition(await Promise.all(natsUrls.split(',').map((u) => PartitionableLink.start(u))));
  }

  /** What the process is given as VIGIL_NATS_URL. */
  get urls(): string {
    return this.links.map((l) => l.url).join(',');
  }

  cut(): void {
    for (const l of this.links) l.cut();
  }

  heal(): void {
    for (const l of this.links) l.heal();
  }

  async close(): Promise<void> {
    await Promise.all(this.links.map((l) => l.close()));
  }
}
