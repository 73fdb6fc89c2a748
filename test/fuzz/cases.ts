/** The mix of a fuzz run: case `index` of `seed` is always the same request. */
import { abandoned, garbage, listen, oddHeaders, opsRequest, route, settleUnknown, slowBody, stalledBody, stateChange } from './protocol.ts';
import { Random } from './random.ts';
import { deepSend, invalidJsonSend, limitSend, ordinarySend, type FuzzCase } from './sends.ts';
import type { BinderType } from './target.ts';

export type { FuzzCase } from './sends.ts';

type Maker = (random: Random, binder: BinderType) => FuzzCase;

/** Weights per thousand. Stalled bodies wait out the request timeout, so they are rare and run aside. */
const MIX: ReadonlyArray<readonly [number, Maker]> = [
  [420, (r) => ordinarySend(r)],
  [90, (r, b) => limitSend(r, b)],
  [30, (r) => deepSend(r)],
  [30, (r) => invalidJsonSend(r)],
  [50, (r) => stateChange(r)],
  [50, (r) => settleUnknown(r)],
  [20, (r) => listen(r)],
  [60, (r) => route(r)],
  [60, (r) => oddHeaders(r)],
  [80, (r) => garbage(r, 'api')],
  [10, (r) => slowBody(r)],
  [20, (r) => abandoned(r)],
  [50, (r) => opsRequest(r)],
];

/** One in this many cases is a stalled body, besides the mix. */
export const STALLED_EVERY = 5_000;

export function fuzzCase(seed: number, index: number, binder: BinderType): FuzzCase {
  if (index > 0 && index % STALLED_EVERY === 0) return stalledBody();
  const random = new Random(seed, index);
  return random.weighted(MIX)(random, binder);
}
