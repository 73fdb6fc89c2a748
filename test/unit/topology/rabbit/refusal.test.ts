import { describe, expect, it } from 'vitest';
import { describeConflict, isPreconditionFailed, topologyConflict } from '../../../../topology/rabbit/refusal.ts';

/** Messages as amqplib reports RabbitMQ 3.10's refusals (copied from the broker's answers). */
const refusal = (detail: string, operation = 'QueueDeclare') =>
  `Operation failed: ${operation}; 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - ${detail}"`;

describe('topologyConflict', () => {
  it.each([
    {
      case: 'a queue with dead letters, declared without (a Spring service first, autoBindDlq on)',
      message: refusal("inequivalent arg 'x-dead-letter-exchange' for queue 'orders.audit' in vhost '/': received none but current is the value 'DLX' of type 'longstr'"),
      conflict: { kind: 'queue', name: 'orders.audit', vhost: '/', argument: 'x-dead-letter-exchange', declared: 'none', existing: 'DLX' },
    },
    {
      case: 'a queue without dead letters, declared with (deadLetter: true against a default Spring service)',
      message: refusal("inequivalent arg 'x-dead-letter-exchange' for queue 'orders.audit' in vhost 'shop': received the value 'DLX' of type 'longstr' but current is none"),
      conflict: { kind: 'queue', name: 'orders.audit', vhost: 'shop', argument: 'x-dead-letter-exchange', declared: 'DLX', existing: 'none' },
    },
    {
      case: 'a durable queue declared transient',
      message: refusal("inequivalent arg 'durable' for queue 'q' in vhost '/': received 'false' but current is 'true'"),
      conflict: { kind: 'queue', name: 'q', vhost: '/', argument: 'durable', declared: 'false', existing: 'true' },
    },
    {
      case: 'another dead-letter exchange',
      message: refusal("inequivalent arg 'x-dead-letter-exchange' for queue 'q' in vhost '/': received 'OTHER' but current is 'DLX'"),
      conflict: { kind: 'queue', name: 'q', vhost: '/', argument: 'x-dead-letter-exchange', declared: 'OTHER', existing: 'DLX' },
    },
    {
      case: 'an exchange of another type',
      message: refusal("inequivalent arg 'type' for exchange 'orders' in vhost '/': received 'direct' but current is 'topic'", 'ExchangeDeclare'),
      conflict: { kind: 'exchange', name: 'orders', vhost: '/', argument: 'type', declared: 'direct', existing: 'topic' },
    },
    {
      case: "a name with a quote in it",
      message: refusal("inequivalent arg 'durable' for queue 'it's' in vhost '/': received 'false' but current is 'true'"),
      conflict: { kind: 'queue', name: "it's", vhost: '/', argument: 'durable', declared: 'false', existing: 'true' },
    },
  ])('$case', ({ message, conflict }) => {
    expect(isPreconditionFailed(message)).toBe(true);
    expect(topologyConflict(message)).toEqual(conflict);
  });

  it('is undefined for other refusals, which are still preconditions', () => {
    const message = refusal("invalid arg 'x-max-length' for queue 'q' in vhost '/': {value_negative,-1}");
    expect(isPreconditionFailed(message)).toBe(true);
    expect(topologyConflict(message)).toBeUndefined();
    expect(isPreconditionFailed('Channel closed by server: 404 (NOT-FOUND) with message "NOT_FOUND - no queue \'q\'"')).toBe(false);
  });

  it('describes a conflict with the object, the argument and both values', () => {
    const conflict = topologyConflict(refusal("inequivalent arg 'x-dead-letter-exchange' for queue 'orders.audit' in vhost '/': received the value 'DLX' of type 'longstr' but current is none"))!;
    expect(describeConflict(conflict)).toBe(
      "RabbitMQ refused to declare queue 'orders.audit': it exists with x-dead-letter-exchange = none, this binding declares x-dead-letter-exchange = DLX "
      + "(PRECONDITION_FAILED, inequivalent arg); make both sides declare it alike (deadLetter, as Spring's autoBindDlq), or delete the object",
    );
  });
});
