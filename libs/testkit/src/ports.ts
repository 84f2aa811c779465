import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * Where listening ports are picked: below the kernel's ephemeral range. A
 * port the OS hands out for listen(0) comes from that range, which is also
 * where the source ports of outgoing connections come from: between the
 * pick and the service's own listen, a client connecting anywhere (a NATS
 * client, a test's socket) could take it, and the service failed to start
 * with EADDRINUSE.
 */
const LOWEST = 20_000;

function ephemeralStart(): number {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    return low !== undefined && Number.isInteger(low) && low > LOWEST + 1000 ? low : 0;
  } catch {
    return 0; // not Linux: the OS's pick below
  }
}

const EPHEMERAL_START = ephemeralStart();
/** Random tries below the ephemeral range before falling back to the OS's pick (the only way off Linux). */
const TRIES = 50;
/**
 * Ports this process handed out: each probe is closed before its service
 * listens, and a cluster picks a dozen or more first, so two random picks
 * could otherwise be the same port.
 */
const handedOut = new Set<number>();

function tryListen(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(undefined));
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      const got = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(got > 0 ? got : undefined));
    });
  });
}

/** A TCP port on 127.0.0.1 that was free a moment ago, outside the range outgoing connections take theirs from. */
export async function freePort(): Promise<number> {
  if (EPHEMERAL_START > 0) {
    for (let i = 0; i < TRIES; i++) {
      const candidate = LOWEST + Math.floor(Math.random() * (EPHEMERAL_START - LOWEST));
      if (handedOut.has(candidate)) continue;
      handedOut.add(candidate); // before the probe: a concurrent pick must not try it meanwhile
      if ((await tryListen(candidate)) !== undefined) return candidate;
      handedOut.delete(candidate);
    }
  }
  for (let i = 0; i < TRIES; i++) {
    const port = await tryListen(0);
    if (port === undefined) break;
    if (!handedOut.has(port)) return handOut(port);
  }
  throw new Error('no free port on 127.0.0.1');
}

function handOut(port: number): number {
  handedOut.add(port);
  return port;
}
