/**
 * Subcommand dispatch for `bindery`. Each subcommand lives in its own module and is
 * loaded only when asked for, so `bindery runtime` never pays for the operator's imports.
 */
export interface Command {
  name: string;
  summary: string;
  /** Runs the command; resolves to the process exit code (or never, for servers). */
  load: () => Promise<{ main: (argv: string[]) => Promise<number> }>;
}

export const commands: Command[] = [
  { name: 'runtime', summary: 'the sidecar: HTTP send/listen over a broker (--config FILE)', load: () => import('../runtime/src/command.ts') },
  { name: 'demo', summary: 'the seed scenario on one machine (--binder memory|rabbit|kafka)', load: () => import('../runtime/src/demo/index.ts') },
  { name: 'operator', summary: 'the Kubernetes operator and injection webhook (--kubeconfig FILE)', load: () => import('../operator/src/main.ts') },
];

export function usage(): string {
  const width = Math.max(...commands.map((c) => c.name.length), 4);
  const lines = commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return [
    'Usage: bindery <command> [options]',
    '',
    'Commands:',
    ...lines,
    '',
    'Run `bindery <command> --help` for the options of one command.',
  ].join('\n');
}

export async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name === undefined ? 1 : 0;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    console.error(`bindery: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  const module = await command.load();
  return module.main(rest);
}
