/** Topology inputs on destination `orders`, with the sidecar's defaults, for the desired-topology tables. */
import { CONSUMER_DEFAULTS, PRODUCER_DEFAULTS } from '../../../sidecar-config/defaults.ts';
import type { TopologyInput } from '../../../topology/input.ts';

type Producer = Partial<TopologyInput['producer']>;
type Consumer = Partial<TopologyInput['consumer']>;

const producerDefaults = (): TopologyInput['producer'] => ({ partitionCount: PRODUCER_DEFAULTS.partitionCount, requiredGroups: [], deadLetter: PRODUCER_DEFAULTS.deadLetter });

export function input(group: string | undefined, consumer: Consumer = {}, producer: Producer = {}): TopologyInput {
  return {
    direction: 'input',
    destination: 'orders',
    group,
    producer: { ...producerDefaults(), ...producer },
    consumer: { ...CONSUMER_DEFAULTS, ...consumer },
  };
}

export function output(producer: Producer = {}): TopologyInput {
  return { direction: 'output', destination: 'orders', producer: { ...producerDefaults(), ...producer }, consumer: { ...CONSUMER_DEFAULTS } };
}
