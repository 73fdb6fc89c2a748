/**
 * The test node's pod network. It is machine-wide (a bridge, routes, iptables), so there is
 * one node per machine and these addresses are constants: the brokers of whichever checkout
 * runs the node are reached by its pods at the bridge's address.
 */
export const podNetwork = {
  bridge: 'bindery0',
  /** The CNI network's name; its iptables chains carry it in their comments. */
  name: 'bindery-node',
  cidr: '10.200.0.0/24',
  /** The bridge's own address: the host, as pods see it (node IP, cluster DNS, brokers). */
  gateway: '10.200.0.1',
} as const;
