/** Thrown when an awaited event did not happen within its deadline; says what was awaited. */
export class DeadlineError extends Error {
  constructor(what: string, timeoutMs: number, options?: ErrorOptions) {
    super(`timed out after ${timeoutMs} ms waiting for ${what}`, options);
    this.name = 'DeadlineError';
  }
}

/** Races `promise` against a deadline; the timer never outlives the race. */
export async function withDeadline<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineError(what, timeoutMs)), timeoutMs);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Retries `op` until it resolves (a fresh cluster settling, a leader being
 * elected), pausing a little longer each time; rejects with the last failure
 * as the cause once `timeoutMs` has passed.
 */
export async function eventually<T>(op: () => Promise<T>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return await op();
    } catch (e) {
      if (Date.now() >= deadline) throw new DeadlineError(what, timeoutMs, { cause: e });
      await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 100 * (attempt + 1))));
    }
  }
}
