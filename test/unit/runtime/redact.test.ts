import { describe, expect, it } from 'vitest';
import { redact, safeError } from '../../../runtime/src/redact.ts';

describe('redact: the one way secrets leave text', () => {
  it.each([
    ['a URL\'s password', 'cannot reach amqp://admin:s3cret@rabbit:5672/v', 'cannot reach amqp://admin:***@rabbit:5672/v'],
    ['a URL that does not parse', 'at amqp://admin:s3cret@rabbit:port5672 now', 'at <unparseable url> now'],
    ['a YAML password', '      password: s3cret', '      password: ***'],
    ['a quoted JSON password', '{"password":"s3cret","user":"u"}', '{"password":***,"user":"u"}'],
    ['a property with a prefix', 'sasl.password=s3cret other=1', 'sasl.password=*** other=1'],
    ['a secret and a token', 'clientSecret: abc, token = def', 'clientSecret: ***, token = ***'],
    ['an unterminated quoted value', 'password: "s3cret and more', 'password: ***'],
    ['text with no secret', 'binders.r.rabbit.url: must start with amqp://', 'binders.r.rabbit.url: must start with amqp://'],
  ])('%s', (_name, text, expected) => {
    expect(redact(text)).toBe(expected);
  });

  it('safeError redacts an error\'s message for a log line', () => {
    expect(safeError(new Error('login failed for amqp://u:p@h password: p'))).toMatchObject({ message: 'login failed for amqp://u:***@h password: ***' });
  });
});
