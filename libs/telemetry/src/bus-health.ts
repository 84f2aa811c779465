import { counter, gauge } from './metrics.js';
import type { Logger } from './log.js';

/** What a message-bus connection must offer to be watched (nats.js's NatsConnection fits). */
export interface WatchableBus {
  status(): AsyncIterable<{ readonly type: string }>;
  isClosed(): boolean;
}

/**
 * Connection state of the process's NATS client, for readiness and for the
 * `vigil_nats_*` metrics: connected or not, reconnects and disconnects counted.
 */
export class BusHealth {
  #connected = true;
  readonly #reconnects = counter('vigil_nats_reconnects', 'NATS client reconnections');
  readonly #disconnects = counter('vigil_nats_disconnects', 'NATS client disconnections');
  readonly #stopGauge: () => void;

  constructor(private readonly bus: WatchableBus, log: Logger) {
    this.#stopGauge = gauge('vigil_nats_connected', '1 while the NATS client is connected', (report) => report(this.connected ? 1 : 0));
    this.#watch().catch((e: unknown) => log.warn('NATS status watch ended', { err: e }));
  }

  get connected(): boolean {
    return this.#connected && !this.bus.isClosed();
  }

  stop(): void {
    this.#stopGauge();
  }

  async #watch(): Promise<void> {
    for await (const s of this.bus.status()) {
      if (s.type === 'disconnect') {
        this.#connected = false;
        this.#disconnects.add(1);
      } else if (s.type === 'reconnect') {
        this.#connected = true;
        this.#reconnects.add(1);
      }
    }
  }
}
