/**
 * The sidecar's Prometheus metrics (SPEC section 5), in a registry of their own so that
 * several sidecars in one process (the demo, tests) never share or clash on counters.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { BindingConfig } from './config/model.ts';
import type { DeliveryOutcome } from './delivery/settle.ts';

const LABELS = ['binding', 'destination', 'binder'] as const;
type Labels = Record<(typeof LABELS)[number], string>;

const SEND_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/**
 * What was sent on one set of labels, counted in plain numbers: prom-client hashes the labels
 * of every `inc` and `observe` (its `labels()` children too), which was a tenth of the send
 * path's allocations; these are handed to it once per scrape instead.
 */
interface SendTally {
  labels: Labels;
  count: number;
  /** Of `count`, what the counter was given already. */
  counted: number;
  sum: number;
  /** Observations per bucket of SEND_BUCKETS (not cumulative); the last slot is above them all. */
  buckets: number[];
}

/** The part of prom-client's histogram that `collect` fills: one entry per set of labels. */
interface HistogramEntries {
  hashMap: Record<string, { labels: Labels; bucketValues: Record<number, number>; sum: number; count: number }>;
}

export class Metrics {
  readonly registry = new Registry();
  /** Per set of labels (a reload makes new binding objects with the same labels, which share a tally). */
  private readonly sendTallies = new Map<string, SendTally>();
  private readonly sendTallyOf = new WeakMap<BindingConfig, SendTally>();
  private readonly sent = new Counter({
    name: 'bindery_messages_sent_total', help: 'Messages sent and confirmed by the broker', labelNames: LABELS, registers: [this.registry],
    collect: () => this.handOverSent(),
  });
  private readonly sendDuration = new Histogram({
    name: 'bindery_send_duration_seconds',
    help: 'Time from the send request to the broker confirm',
    labelNames: LABELS,
    buckets: SEND_BUCKETS,
    registers: [this.registry],
    collect: () => this.handOverSendDurations(),
  });
  private readonly received = new Counter({ name: 'bindery_messages_received_total', help: 'Messages received from the broker', labelNames: LABELS, registers: [this.registry] });
  private readonly deliveries = new Counter({
    name: 'bindery_deliveries_total',
    help: 'Delivery attempts by outcome (ack, retry, dead_letter, dropped)',
    labelNames: [...LABELS, 'outcome'],
    registers: [this.registry],
  });
  private readonly deliveryDuration = new Histogram({
    name: 'bindery_delivery_duration_seconds',
    help: 'Time of one delivery attempt to the app or listener',
    labelNames: LABELS,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  private readonly consumerLag = new Gauge({ name: 'bindery_consumer_lag', help: 'Messages waiting for the binding on the broker', labelNames: LABELS, registers: [this.registry] });
  private readonly binderUp = new Gauge({ name: 'bindery_binder_up', help: '1 while the binding\'s binder is connected', labelNames: LABELS, registers: [this.registry] });
  /** Lag per binding and partition; the gauge shows their sum for the binding. */
  private readonly lagByPartition = new Map<string, Map<number, number>>();

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics) {
      collectDefaultMetrics({ register: this.registry });
      // Gauges named like counters, which `promtool check metrics` rejects; each is the sum of
      // the gauge of the same name without `_total` (by type), which stays.
      for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
        this.registry.removeSingleMetric(name);
      }
    }
  }

  messageSent(binding: BindingConfig, seconds: number): void {
    const tally = this.sendTallyOf.get(binding) ?? this.newSendTally(binding);
    tally.count++;
    tally.sum += seconds;
    let bucket = 0;
    while (bucket < SEND_BUCKETS.length && seconds > SEND_BUCKETS[bucket]!) bucket++;
    tally.buckets[bucket]!++;
  }

  messageReceived(binding: BindingConfig): void {
    this.received.inc(labels(binding));
  }

  delivery(binding: BindingConfig, outcome: DeliveryOutcome, seconds: number): void {
    this.deliveries.inc({ ...labels(binding), outcome });
    this.deliveryDuration.observe(labels(binding), seconds);
  }

  lag(binding: BindingConfig, partition: number, lag: number): void {
    const partitions = this.lagByPartition.get(binding.name) ?? new Map<number, number>();
    partitions.set(partition, lag);
    this.lagByPartition.set(binding.name, partitions);
    let total = 0;
    for (const value of partitions.values()) total += value;
    this.consumerLag.set(labels(binding), total);
  }

  binderState(binding: BindingConfig, up: boolean): void {
    this.binderUp.set(labels(binding), up ? 1 : 0);
  }

  /** A binding moved or went away: its old series must not linger. */
  forget(binding: BindingConfig): void {
    for (const metric of [this.consumerLag, this.binderUp]) metric.remove(labels(binding));
    this.lagByPartition.delete(binding.name);
  }

  private newSendTally(binding: BindingConfig): SendTally {
    const made = labels(binding);
    const key = `${made.binding}\u0000${made.destination}\u0000${made.binder}`;
    let tally = this.sendTallies.get(key);
    if (tally === undefined) {
      tally = { labels: made, count: 0, counted: 0, sum: 0, buckets: new Array<number>(SEND_BUCKETS.length + 1).fill(0) };
      this.sendTallies.set(key, tally);
    }
    this.sendTallyOf.set(binding, tally);
    return tally;
  }

  private handOverSent(): void {
    for (const tally of this.sendTallies.values()) {
      if (tally.count > tally.counted) this.sent.inc(tally.labels, tally.count - tally.counted);
      tally.counted = tally.count;
    }
  }

  /**
   * The tallies become the histogram's entries, as its own `observe` would have left them.
   * prom-client has no call that adds many observations at once, so its entries are written;
   * metrics.test.ts compares the result with a histogram fed by `observe`.
   */
  private handOverSendDurations(): void {
    const entries = (this.sendDuration as unknown as HistogramEntries).hashMap;
    for (const [key, tally] of this.sendTallies) {
      if (tally.count === 0) continue;
      const bucketValues: Record<number, number> = {};
      SEND_BUCKETS.forEach((bound, i) => (bucketValues[bound] = tally.buckets[i]!));
      entries[key] = { labels: tally.labels, bucketValues, sum: tally.sum, count: tally.count };
    }
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

/** A binding's labels, made once per binding configuration (a reload makes new ones) rather than per message. */
const labelsOf = new WeakMap<BindingConfig, Labels>();

function labels(binding: BindingConfig): Labels {
  let made = labelsOf.get(binding);
  if (made === undefined) {
    made = { binding: binding.name, destination: binding.destination, binder: binding.binder };
    labelsOf.set(binding, made);
  }
  return made;
}
