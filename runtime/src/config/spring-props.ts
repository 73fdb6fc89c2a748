/**
 * Spring's relaxed property access, as the Spring Cloud Stream loader (spring.ts) reads an
 * `application.yml`: property names matched in any of Spring's spellings, dotted keys expanded,
 * and every key never read reported once as a warning.
 */
import { ConfigError, ConfigSection, isRecord, joinPath, mappingAt } from './section.ts';

/** Spring's canonical form of a property name: `maxAttempts`, `max-attempts` and `max_attempts` agree. */
function canonical(key: string): string {
  return key.replace(/[-_]/g, '').toLowerCase();
}

/**
 * One mapping of the document, read as the bindery.yaml loader reads it (ConfigSection), with
 * property names matched relaxed; map keys that are names (binders, bindings) are used as
 * written. Keys never read become warnings on `done()`.
 */
export class Props extends ConfigSection {
  private readonly children = new Map<string, Props>();
  private finished = false;

  static override of(value: unknown, path: string, warnings: string[]): Props {
    return new Props(path, mappingAt(value, path), warnings);
  }

  protected override make(value: unknown, path: string): Props {
    return Props.of(value, path, this.warnings);
  }

  protected override matchOption<T extends string>(allowed: readonly T[], value: string): T | undefined {
    return allowed.find((a) => a === value) ?? allowed.find((a) => canonical(a) === canonical(value));
  }

  /** The key as written in the file for a property name, if present. */
  override keyName(name: string): string {
    const wanted = canonical(name);
    const matches = Object.keys(this.values).filter((key) => canonical(key) === wanted);
    if (matches.length > 1) throw new ConfigError(`${joinPath(this.path, matches[1]!)}: given twice (also as ${matches[0]})`);
    return matches[0] ?? name;
  }

  isPresent(): boolean {
    return Object.keys(this.values).length > 0;
  }

  /** A value without marking it read. */
  peek(name: string): unknown {
    return this.values[this.keyName(name)];
  }

  /** Same object for the same child, so reads through different paths mark the same keys. */
  override child(name: string): Props {
    const key = this.keyName(name);
    let child = this.children.get(key);
    if (child === undefined) {
      child = this.make(this.raw(name), joinPath(this.path, key));
      this.children.set(key, child);
    }
    return child;
  }

  /** A child read without marking it, to look ahead (a binding's binder before the binders). */
  peekChild(name: string): Props {
    return Props.of(this.values[name], joinPath(this.path, name), []);
  }

  /** Spring Cloud Stream's binding name lists are separated by `;` (or `,`). */
  nameList(name: string): string[] | undefined {
    return this.stringList(name, /[;,]/);
  }

  warn(name: string, message: string): void {
    this.used.add(this.keyName(name));
    this.warnings.push(`${joinPath(this.path, this.keyName(name))}: ${message}`);
  }

  /** Marks the whole mapping as understood (a section read through another path). */
  markAll(): void {
    for (const key of Object.keys(this.values)) this.used.add(key);
    this.finished = true;
  }

  /** Records every key not read as a warning, once, however often it is called. */
  override done(): void {
    if (this.finished) return;
    this.finished = true;
    super.done();
  }
}

/**
 * Spring reads `a.b.c: v` in YAML as `a: {b: {c: v}}`; `[x.y]` keeps a dot inside a name.
 * Both spellings may appear in one file, so the results are merged.
 */
export function expandDottedKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(expandDottedKeys);
  if (!isRecord(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) {
    const segments = splitKey(key);
    let target = out;
    for (const segment of segments.slice(0, -1)) {
      if (!isRecord(target[segment])) target[segment] = {};
      target = target[segment] as Record<string, unknown>;
    }
    const last = segments[segments.length - 1]!;
    const expanded = expandDottedKeys(child);
    target[last] = isRecord(target[last]) && isRecord(expanded) ? deepMerge(target[last], expanded) : expanded;
  }
  return out;
}

function splitKey(key: string): string[] {
  const segments: string[] = [];
  const pattern = /\[([^\]]*)\]|([^.[\]]+)/g;
  for (const match of key.matchAll(pattern)) segments.push(match[1] ?? match[2]!);
  return segments.length > 0 ? segments : [key];
}

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out = { ...a };
  for (const [key, value] of Object.entries(b)) {
    out[key] = isRecord(out[key]) && isRecord(value) ? deepMerge(out[key], value) : value;
  }
  return out;
}
