import { readFileSync } from 'node:fs';

/**
 * Which malloc this process runs on, from the shared objects mapped into it
 * (`/proc/self/maps` text): 'jemalloc' when libjemalloc was preloaded (the
 * authority's start scripts do that when Debian's libjemalloc2 is installed,
 * docs/decisions.md, "jemalloc for the authority"), else 'libc'.
 */
export function mallocOf(maps: string): 'jemalloc' | 'libc' {
  return /\/libjemalloc\.so[^\n]*$/m.test(maps) ? 'jemalloc' : 'libc';
}

/** mallocOf for this process; 'unknown' where /proc is not readable (not Linux). */
export function mallocInUse(): 'jemalloc' | 'libc' | 'unknown' {
  let maps: string;
  try {
    maps = readFileSync('/proc/self/maps', 'utf8');
  } catch {
    return 'unknown';
  }
  return mallocOf(maps);
}
