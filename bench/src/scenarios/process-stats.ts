/** What the scenarios read about the cluster's processes from outside: Linux /proc only. */
import { readFileSync } from 'node:fs';

/** Resident set size of a process in bytes, from /proc; 0 when it cannot be read (no such process, not Linux). */
export function rss(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** This process's soft limit on open files, from /proc/self/limits; undefined when unknown or unlimited. */
export function openFilesLimit(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Refuses to start a scenario that would run out of file descriptors half way
 * (the load generator holds one socket per session, and the cluster's
 * processes inherit the same limit), naming the fix.
 */
export function requireOpenFiles(scenario: string, needed: number): void {
  const limit = openFilesLimit();
  if (limit !== undefined && limit < needed) {
    throw new RangeError(
      `${scenario} needs about ${needed} open files per process but the limit is ${limit}: ` +
        `run \`ulimit -n ${Math.ceil(needed / 10_000) * 10_000}\` in this shell first (raising the hard limit needs root), or pass a smaller --size`,
    );
  }
}

/** Load averages (1, 5, 15 min) from /proc/loadavg, to note how busy the shared machine was. */
export function loadAverage(): readonly number[] {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number);
  } catch {
    return [];
  }
}

/** Clock ticks per second of /proc/<pid>/stat times: USER_HZ, 100 on every mainstream Linux architecture. */
const USER_HZ = 100;

/** CPU time (user + system) a process has used, in ms, from /proc/<pid>/stat; 0 when it cannot be read. */
export function cpuTimeMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / USER_HZ;
  } catch {
    return 0;
  }
}

/**
 * read and write system calls a process has made (all its threads), from
 * /proc/<pid>/io; zeros when it cannot be read. On loopback every socket
 * write also runs the receiver's TCP input, so the count of writes is much
 * of what a message costs on this machine.
 */
export function ioSyscalls(pid: number): { reads: number; writes: number } {
  try {
    const io = readFileSync(`/proc/${pid}/io`, 'utf8');
    const field = (name: string): number => Number(new RegExp(`^${name}: (\\d+)`, 'm').exec(io)?.[1] ?? 0);
    return { reads: field('syscr'), writes: field('syscw') };
  } catch {
    return { reads: 0, writes: 0 };
  }
}
