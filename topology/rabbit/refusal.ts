/**
 * RabbitMQ's refusal to declare an object that exists with other settings (PRECONDITION_FAILED,
 * "inequivalent arg"), read into what a user must know: which object, which argument, what was
 * declared and what the broker holds. Retrying cannot help until one side changes, so the
 * sidecar and the operator both report it instead of retrying it (SPEC section 2). Pure text
 * handling: the sidecar's binder and the operator's session pass the broker's message in.
 */

export interface TopologyConflict {
  kind: 'queue' | 'exchange';
  name: string;
  vhost: string;
  /** The argument or property that differs: `x-dead-letter-exchange`, `durable`, `type`... */
  argument: string;
  /** What this declaration asked for; `none` when it did not set the argument. */
  declared: string;
  /** What the object on the broker has; `none` when it does not have the argument. */
  existing: string;
}

const INEQUIVALENT =
  /inequivalent arg '([^']*)' for (queue|exchange) '((?:[^']|'(?! in vhost))*)' in vhost '([^']*)': received (.+?) but current is (.+?)["]?$/;

/** The conflict a broker error's message describes, if it is an "inequivalent arg" refusal. */
export function topologyConflict(message: string): TopologyConflict | undefined {
  const match = INEQUIVALENT.exec(message);
  if (match === null) return undefined;
  const [, argument, kind, name, vhost, received, current] = match;
  return { kind: kind as TopologyConflict['kind'], name: name!, vhost: vhost!, argument: argument!, declared: argumentValue(received!), existing: argumentValue(current!) };
}

/** Whether a broker error's message is a PRECONDITION_FAILED refusal of any kind. */
export function isPreconditionFailed(message: string): boolean {
  return /PRECONDITION[-_]FAILED/.test(message);
}

/** One sentence naming the object, the argument and both values. */
export function describeConflict(conflict: TopologyConflict): string {
  return `RabbitMQ refused to declare ${conflict.kind} '${conflict.name}': it exists with ${conflict.argument} = ${conflict.existing}, `
    + `this binding declares ${conflict.argument} = ${conflict.declared} (PRECONDITION_FAILED, inequivalent arg); `
    + 'make both sides declare it alike (deadLetter, as Spring\'s autoBindDlq), or delete the object';
}

/** RabbitMQ writes `none`, `'true'` or `the value 'DLX' of type 'longstr'`. */
function argumentValue(text: string): string {
  const typed = /^the value '(.*)' of type '[^']*'$/.exec(text);
  if (typed) return typed[1]!;
  const quoted = /^'(.*)'$/.exec(text);
  if (quoted) return quoted[1]!;
  return text;
}
