/** A configuration problem, naming the setting at fault. */
export class ConfigError extends Error {
  constructor(
    readonly setting: string,
    message: string,
  ) {
    super(`${setting}: ${message}`);
    this.name = 'ConfigError';
  }
}

export type Env = Readonly<Record<string, string | undefined>>;

/** Reads typed settings from an environment; each getter documents its variable. */
export class EnvReader {
  readonly #env: Env;
  readonly documented: { name: string; default: string; description: string }[] = [];

  constructor(env: Env) {
    this.#env = env;
  }

  string(name: string, fallback: string, description: string): string {
    this.documented.push({ name, default: fallback, description });
    const raw = this.#env[name];
    return raw === undefined || raw === '' ? fallback : raw;
  }

  int(name: string, fallback: number, description: string, range: { min?: number; max?: number } = {}): number {
    this.documented.push({ name, default: String(fallback), description });
    const raw = this.#env[name];
    if (raw === undefined || raw === '') return fallback;
    if (!/^-?\d+$/.test(raw.trim())) throw new ConfigError(name, `expected an integer, got ${JSON.stringify(raw)}`);
    const n = Number(raw);
    if (range.min !== undefined && n < range.min) throw new ConfigError(name, `must be >= ${range.min}, got ${n}`);
    if (range.max !== undefined && n > range.max) throw new ConfigError(name, `must be <= ${range.max}, got ${n}`);
    return n;
  }

  bool(name: string, fallback: boolean, description: string): boolean {
    this.documented.push({ name, default: String(fallback), description });
    const raw = this.#env[name];
    if (raw === undefined || raw === '') return fallback;
    if (/^(1|true|yes|on)$/i.test(raw)) return true;
    if (/^(0|false|no|off)$/i.test(raw)) return false;
    throw new ConfigError(name, `expected true or false, got ${JSON.stringify(raw)}`);
  }

  list(name: string, fallback: readonly string[], description: string): string[] {
    this.documented.push({ name, default: fallback.join(','), description });
    const raw = this.#env[name];
    if (raw === undefined || raw === '') return [...fallback];
    return raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
  }
}
