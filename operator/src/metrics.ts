/** The operator's Prometheus metrics, on a registry of its own so tests can run several operators in one process. */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export class OperatorMetrics {
  readonly registry = new Registry();
  readonly reconciles = new Counter({
    name: 'bindery_operator_reconciles_total',
    help: 'Reconciles by controller and result (done, wait, terminal, error).',
    labelNames: ['controller', 'result'] as const,
    registers: [this.registry],
  });
  readonly errors = new Counter({
    name: 'bindery_operator_reconcile_errors_total',
    help: 'Reconciles that failed and will be retried with back-off.',
    labelNames: ['controller'] as const,
    registers: [this.registry],
  });
  readonly duration = new Histogram({
    name: 'bindery_operator_reconcile_duration_seconds',
    help: 'Time spent in one reconcile.',
    labelNames: ['controller'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: 'bindery_operator_queue_depth',
    help: 'Keys waiting in the work queue.',
    labelNames: ['controller'] as const,
    registers: [this.registry],
  });
  readonly brokerCalls = new Counter({
    name: 'bindery_operator_broker_calls_total',
    help: 'Calls to brokers by binder type and kind (write: declare or delete; read: existence checks and inspections).',
    labelNames: ['type', 'kind'] as const,
    registers: [this.registry],
  });
  readonly leader = new Gauge({
    name: 'bindery_operator_leader',
    help: '1 while this process holds the leader Lease.',
    registers: [this.registry],
  });
}
