/**
 * The Java objects a partition key expression evaluates to in Spring Cloud Stream, as far as
 * Bindery needs them: their `hashCode()` (which picks the partition) and their `toString()`
 * (which SpEL's `+` concatenates). A JSON payload reaches Spring through Jackson, which reads
 * an integer as Integer, Long or BigInteger (the first that holds it), a number with a fraction
 * or an exponent as Double, `true`/`false` as Boolean, an array as ArrayList and an object as
 * LinkedHashMap; the functions here give each of those Java's answer (SPEC section 2).
 */

type NumberType = 'Integer' | 'Long' | 'BigInteger' | 'Double';

const INT_MIN = -(2n ** 31n);
const INT_MAX = 2n ** 31n - 1n;
const LONG_MIN = -(2n ** 63n);
const LONG_MAX = 2n ** 63n - 1n;

/** A number as the Java object Jackson reads from it; JSON.parse would lose `1` versus `1.0`. */
export class JavaNumber {
  private constructor(
    readonly type: NumberType,
    /** bigint for the integral types, number for Double. */
    readonly value: bigint | number,
  ) {}

  /** A JSON number token, as Jackson's untyped deserializer reads it. */
  static fromJson(text: string): JavaNumber {
    if (/[.eE]/.test(text)) return new JavaNumber('Double', Number(text));
    return JavaNumber.integral(BigInt(text));
  }

  /** A number that has already lost its JSON text: integral values count as integers. */
  static fromJs(n: number): JavaNumber {
    return Number.isSafeInteger(n) ? JavaNumber.integral(BigInt(n)) : new JavaNumber('Double', n);
  }

  private static integral(value: bigint): JavaNumber {
    if (value >= INT_MIN && value <= INT_MAX) return new JavaNumber('Integer', value);
    if (value >= LONG_MIN && value <= LONG_MAX) return new JavaNumber('Long', value);
    return new JavaNumber('BigInteger', value);
  }

  hashCode(): number {
    switch (this.type) {
      case 'Integer':
        return Number(this.value);
      case 'Long':
        return longHash(this.value as bigint);
      case 'BigInteger':
        return bigIntegerHash(this.value as bigint);
      case 'Double':
        return doubleHash(this.value as number);
    }
  }

  toString(): string {
    return this.type === 'Double' ? doubleString(this.value as number) : String(this.value);
  }

  /** SpEL's numeric `+`: the wider operand's type; int and long arithmetic wrap as in Java. */
  plus(other: JavaNumber): JavaNumber {
    if (this.type === 'Double' || other.type === 'Double') return new JavaNumber('Double', Number(this.value) + Number(other.value));
    const sum = (this.value as bigint) + (other.value as bigint);
    if (this.type === 'BigInteger' || other.type === 'BigInteger') return new JavaNumber('BigInteger', sum);
    if (this.type === 'Long' || other.type === 'Long') return new JavaNumber('Long', BigInt.asIntN(64, sum));
    return new JavaNumber('Integer', BigInt.asIntN(32, sum));
  }
}

/** `Object.hashCode()` of the Java object Spring would have evaluated to `value`. */
export function javaHashCode(value: unknown): number {
  if (value === null || value === undefined) return 0;
  if (typeof value === 'string') return stringHash(value);
  if (typeof value === 'boolean') return value ? 1231 : 1237;
  if (typeof value === 'number') return JavaNumber.fromJs(value).hashCode();
  if (value instanceof JavaNumber) return value.hashCode();
  if (Array.isArray(value)) {
    // ArrayList.hashCode.
    let h = 1;
    for (const element of value) h = (Math.imul(31, h) + javaHashCode(element)) | 0;
    return h;
  }
  if (typeof value === 'object') {
    // LinkedHashMap.hashCode: the sum of key.hashCode() ^ value.hashCode() over the entries.
    let h = 0;
    for (const [key, entry] of Object.entries(value)) h = (h + (stringHash(key) ^ javaHashCode(entry))) | 0;
    return h;
  }
  return stringHash(String(value));
}

/** `String.valueOf(value)` of that Java object, as SpEL's `+` writes it into a string. */
export function javaString(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return JavaNumber.fromJs(value).toString();
  if (value instanceof JavaNumber) return value.toString();
  if (Array.isArray(value)) return `[${value.map(javaString).join(', ')}]`;
  if (typeof value === 'object') return `{${Object.entries(value).map(([k, v]) => `${k}=${javaString(v)}`).join(', ')}}`;
  return String(value);
}

/** SpEL's `+`: numbers add, anything else concatenates as strings. */
export function javaPlus(left: unknown, right: unknown): unknown {
  const l = typeof left === 'number' ? JavaNumber.fromJs(left) : left;
  const r = typeof right === 'number' ? JavaNumber.fromJs(right) : right;
  if (l instanceof JavaNumber && r instanceof JavaNumber) return l.plus(r);
  return javaString(l) + javaString(r);
}

/** Java's String.hashCode: s[0]*31^(n-1) + ... over UTF-16 code units, wrapping at 32 bits. */
function stringHash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) | 0;
  return h;
}

/** Long.hashCode: `(int) (value ^ (value >>> 32))`. */
function longHash(value: bigint): number {
  const bits = BigInt.asUintN(64, value);
  return (Number(bits >> 32n) ^ Number(bits & 0xffffffffn)) | 0;
}

/** Double.hashCode: Long.hashCode of `doubleToLongBits(value)`. */
function doubleHash(value: number): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, value);
  return (view.getInt32(0) ^ view.getInt32(4)) | 0;
}

/** BigInteger.hashCode: `31 * h + word` over the magnitude's 32-bit words, high first, times the sign. */
function bigIntegerHash(value: bigint): number {
  const negative = value < 0n;
  let magnitude = negative ? -value : value;
  const words: number[] = [];
  while (magnitude > 0n) {
    words.unshift(Number(magnitude & 0xffffffffn));
    magnitude >>= 32n;
  }
  let h = 0;
  for (const word of words) h = (Math.imul(31, h) + word) | 0;
  return negative ? -h | 0 : h;
}

/**
 * Double.toString: plain decimals from 10^-3 to 10^7, else `d.dddE<n>`; always with a
 * fraction digit ("1.0", "1.0E10").
 */
function doubleString(n: number): string {
  if (!Number.isFinite(n)) return Number.isNaN(n) ? 'NaN' : n > 0 ? 'Infinity' : '-Infinity';
  if (n === 0) return Object.is(n, -0) ? '-0.0' : '0.0';
  const abs = Math.abs(n);
  if (abs >= 1e-3 && abs < 1e7) {
    const plain = String(n);
    return plain.includes('.') ? plain : `${plain}.0`;
  }
  const [mantissa, exponent] = n.toExponential().split('e') as [string, string];
  return `${mantissa.includes('.') ? mantissa : `${mantissa}.0`}E${Number(exponent)}`;
}
