/**
 * A short fuzz run on each binder, in every test run: a fixed seed, and a fresh one whose
 * number is printed so that a failure can be replayed (`npm run fuzz -- --seed N ...`). The
 * long run (100 000 requests per binder, with RSS) is `npm run fuzz`.
 */
import { describe, expect, it } from 'vitest';
import { freshSeed } from '../../fuzz/random.ts';
import { runFuzz } from '../../fuzz/run.ts';
import { testEnv } from '../../support/env.ts';

const FIXED_SEED = 20_261_201;
const REQUESTS = 500;

describe.each(['memory', 'rabbit', 'kafka'] as const)('fuzz on the %s binder', (binder) => {
  it(`${REQUESTS} requests of a fixed seed and of a fresh one: no crash, hang, 5xx, off-contract answer or lost message`, async () => {
    const seeds = [FIXED_SEED, freshSeed()];
    console.log(`fuzz on ${binder}: seeds ${seeds.join(' and ')}; replay with npm run fuzz -- --seed N --requests ${REQUESTS} --binder ${binder}`);
    const env = testEnv();
    const report = await runFuzz(
      {
        rabbitUrl: env.rabbitUrl,
        rabbitManagement: { url: env.rabbitManagementUrl, user: env.rabbitManagementUser, password: env.rabbitManagementPassword },
        kafkaBrokers: env.kafkaBrokers,
      },
      { seeds, requests: REQUESTS, binder, measureRss: false },
    );
    expect(report.requests).toBe(2 * REQUESTS);
    expect(report.accepted).toBeGreaterThan(100);
    expect(report.failures).toEqual([]);
    expect(report.counts).toEqual({ crash: 0, hang: 0, '5xx': 0, 'off-contract': 0, lost: 0 });
  }, 180_000);
});
