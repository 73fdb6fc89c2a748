import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { BindingConfig } from '../../../runtime/src/config/model.ts';
import { Metrics } from '../../../runtime/src/metrics.ts';

function output(name: string, destination = `${name}-topic`): BindingConfig {
  return { name, direction: 'output', destination, binder: 'rabbit' } as BindingConfig;
}

/** What prom-client itself prints for sends observed one by one, as the metrics did before they were tallied. */
async function observedOneByOne(sends: Array<[BindingConfig, number]>): Promise<string> {
  const registry = new Registry();
  const labelNames = ['binding', 'destination', 'binder'];
  const sent = new Counter({ name: 'bindery_messages_sent_total', help: 'Messages sent and confirmed by the broker', labelNames, registers: [registry] });
  const duration = new Histogram({
    name: 'bindery_send_duration_seconds', help: 'Time from the send request to the broker confirm', labelNames,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [registry],
  });
  for (const [binding, seconds] of sends) {
    const labels = { binding: binding.name, destination: binding.destination, binder: binding.binder };
    sent.inc(labels);
    duration.observe(labels, seconds);
  }
  return registry.metrics();
}

/** The send series of a scrape. */
function sendSeries(text: string): string {
  return text.split('\n').filter((line) => /^bindery_(messages_sent_total|send_duration_seconds)/.test(line)).join('\n');
}

describe('Metrics: sends tallied per binding and handed to prom-client at scrape time', () => {
  it('prints what observing each send would have printed, bucket bounds, overflow and scrapes in between included', async () => {
    const orders = output('orders');
    const reloaded = { ...orders };
    const audit = output('audit');
    const metrics = new Metrics();
    const sends: Array<[BindingConfig, number]> = [];
    const send = (binding: BindingConfig, seconds: number): void => {
      sends.push([binding, seconds]);
      metrics.messageSent(binding, seconds);
    };
    send(orders, 0.0005);
    send(orders, 0.0007);
    send(audit, 7);
    expect(sendSeries(await metrics.text())).toBe(sendSeries(await observedOneByOne(sends)));
    // A reload's new binding object with the same labels goes on counting the same series.
    send(reloaded, 0.003);
    send(orders, 5);
    send(audit, 0.2);
    const text = await metrics.text();
    expect(sendSeries(text)).toBe(sendSeries(await observedOneByOne(sends)));
    expect(text).toContain('bindery_messages_sent_total{binding="orders",destination="orders-topic",binder="rabbit"} 4');
    expect(text).toContain('bindery_send_duration_seconds_bucket{le="0.001",binding="orders",destination="orders-topic",binder="rabbit"} 2');
  });

  it('shows no send series before anything was sent', async () => {
    const text = await new Metrics().text();
    expect(text).toContain('# TYPE bindery_messages_sent_total counter');
    expect(sendSeries(text)).toBe('');
  });
});
