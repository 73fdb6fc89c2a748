import type { Component } from './component.ts';
import { kafka } from './kafka.ts';
import { kubernetes } from './kubernetes.ts';
import { node } from './node.ts';
import { rabbit } from './rabbit.ts';

/**
 * In start order; `up` brings the light ones up while the heavy ones still build. The node
 * comes last: it joins the API server, and `down` drains it first.
 */
export const components: Component[] = [rabbit, kafka, kubernetes, node];

export function selectComponents(names: string[]): Component[] {
  if (names.length === 0) return components;
  return names.map((name) => {
    const found = components.find((c) => c.name === name || c.name.startsWith(name));
    if (!found) throw new Error(`unknown component "${name}" (known: ${components.map((c) => c.name).join(', ')})`);
    return found;
  });
}
