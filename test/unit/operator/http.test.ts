import { afterEach, describe, expect, it } from 'vitest';
import { startProbeServer } from '../../../operator/src/http.ts';
import { OperatorMetrics } from '../../../operator/src/metrics.ts';

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

describe('the operator probe server', () => {
  it('answers /healthz always, /readyz once synced, and /metrics with the operator metrics', async () => {
    let ready = false;
    const metrics = new OperatorMetrics();
    metrics.reconciles.inc({ controller: 'streambinding', result: 'done' });
    const server = await startProbeServer({ port: 0, host: '127.0.0.1', ready: () => ready, registry: metrics.registry });
    closers.push(server.close);
    const get = async (path: string) => {
      const response = await fetch(`http://127.0.0.1:${server.port}${path}`);
      return { status: response.status, body: await response.text() };
    };
    expect((await get('/healthz')).status).toBe(200);
    expect((await get('/readyz')).status).toBe(503);
    ready = true;
    expect((await get('/readyz')).status).toBe(200);
    const scraped = await get('/metrics');
    expect(scraped.body).toContain('bindery_operator_reconciles_total{controller="streambinding",result="done"} 1');
    expect(scraped.body).toContain('bindery_operator_queue_depth');
    expect((await get('/nothing')).status).toBe(404);
  });

  it.each([
    ['/metrics', 404],
    ['/healthz', 200],
  ])('without a registry %s answers %i', async (path, status) => {
    const server = await startProbeServer({ port: 0, host: '127.0.0.1', ready: () => true });
    closers.push(server.close);
    expect((await fetch(`http://127.0.0.1:${server.port}${path}`)).status).toBe(status);
  });
});
