/**
 * One mapping of a configuration document, read key by key: typed readers whose errors name
 * the key's full path (`bindings.input.consumer.maxAttempts: must be an integer >= 1`), and a
 * record of the keys read, so the rest can be reported as unknown. The bindery.yaml loader
 * uses it as is; a loader with relaxed key names (Spring's `content-type` / `contentType`)
 * extends it and overrides `keyName`, `matchOption` and `make`.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * Stands for a string whose `${VAR}` is not set. It fails only when read, so a value the
 * sidecar does not use (another pod's binder in a shared ConfigMap) cannot stop it.
 */
export class MissingEnv {
  constructor(
    readonly variable: string,
    readonly path: string,
  ) {}

  error(): ConfigError {
    return new ConfigError(`${this.path || '(root)'}: environment variable ${this.variable} is not set`);
  }
}

export class ConfigSection {
  protected readonly used = new Set<string>();

  constructor(
    readonly path: string,
    protected readonly values: Record<string, unknown>,
    protected readonly warnings: string[],
  ) {}

  static of(value: unknown, path: string, warnings: string[]): ConfigSection {
    return new ConfigSection(path, mappingAt(value, path), warnings);
  }

  /** The document's key for `name` (exact here; relaxed in subclasses). */
  keyName(name: string): string {
    return name;
  }

  /** The allowed value `value` stands for, if any. */
  protected matchOption<T extends string>(allowed: readonly T[], value: string): T | undefined {
    return allowed.find((option) => option === value);
  }

  /** Builds a child section (subclasses return their own kind). */
  protected make(value: unknown, path: string): ConfigSection {
    return ConfigSection.of(value, path, this.warnings);
  }

  has(name: string): boolean {
    const value = this.values[this.keyName(name)];
    return value !== undefined && value !== null;
  }

  raw(name: string): unknown {
    const key = this.keyName(name);
    this.used.add(key);
    const value = this.values[key];
    if (value instanceof MissingEnv) throw value.error();
    return value;
  }

  keys(): string[] {
    return Object.keys(this.values);
  }

  child(name: string): ConfigSection {
    const key = this.keyName(name);
    return this.make(this.raw(name), joinPath(this.path, key));
  }

  string(name: string): string | undefined {
    const value = this.raw(name);
    if (value === undefined || value === null) return undefined;
    if (typeof value === 'number' || typeof value === 'boolean') return String(value);
    if (typeof value !== 'string' || value === '') throw this.invalid(name, 'must be a non-empty string');
    return value;
  }

  requiredString(name: string): string {
    const value = this.string(name);
    if (value === undefined) throw this.invalid(name, 'is required');
    return value;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[]): T | undefined {
    const value = this.string(name);
    if (value === undefined) return undefined;
    const found = this.matchOption(allowed, value);
    if (found === undefined) throw this.invalid(name, `must be one of ${allowed.join(', ')}`);
    return found;
  }

  integer(name: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
    const value = numeric(this.raw(name));
    if (value === undefined) return undefined;
    if (!Number.isInteger(value) || value < min || value > max) {
      throw this.invalid(name, max === Number.MAX_SAFE_INTEGER ? `must be an integer >= ${min}` : `must be an integer from ${min} to ${max}`);
    }
    return value;
  }

  number(name: string, min: number): number | undefined {
    const value = numeric(this.raw(name));
    if (value === undefined) return undefined;
    if (!Number.isFinite(value) || value < min) throw this.invalid(name, `must be a number >= ${min}`);
    return value;
  }

  boolean(name: string): boolean | undefined {
    const value = this.raw(name);
    if (value === undefined || value === null) return undefined;
    if (value === true || value === 'true') return true;
    if (value === false || value === 'false') return false;
    throw this.invalid(name, 'must be true or false');
  }

  /** A YAML list, or a string split at `separator` (default `,`). */
  stringList(name: string, separator: RegExp = /,/): string[] | undefined {
    const value = this.raw(name);
    if (value === undefined || value === null) return undefined;
    const items = typeof value === 'string' ? value.split(separator).map((s) => s.trim()).filter(Boolean) : value;
    if (Array.isArray(items)) for (const item of items) if (item instanceof MissingEnv) throw item.error();
    if (!Array.isArray(items) || items.some((item) => typeof item !== 'string' || item === '')) {
      throw this.invalid(name, 'must be a list of strings');
    }
    return items as string[];
  }

  invalid(name: string, message: string): ConfigError {
    return new ConfigError(`${joinPath(this.path, this.keyName(name))}: ${message}`);
  }

  /** Records every key not read as a warning; call once the section is fully read. */
  done(): void {
    for (const key of Object.keys(this.values)) {
      if (!this.used.has(key)) this.warnings.push(`${joinPath(this.path, key)}: unknown key, ignored`);
    }
  }
}

export function mappingAt(value: unknown, path: string): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  if (value instanceof MissingEnv) throw value.error();
  if (!isRecord(value)) throw new ConfigError(`${path || '(root)'}: must be a mapping`);
  return value;
}

/** A number from a YAML number or numeric string; NaN for anything else; undefined when absent. */
export function numeric(value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && value.trim() !== '' && !Number.isNaN(Number(value))) return Number(value);
  return Number.NaN;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function joinPath(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}
