// The commands beyond main.ts's core ones. Each is one entry here: what `halab --help` shows, and
// the module that runs it, loaded only when the command runs, so `--help` (and every other
// command) does not load the engine code of commands it does not use.
//
// To add a command: export `async function xCommand(input: CommandInput): Promise<number>` from
// its module and add `lazy('x', 'x ARGS', 'what it does', () => import('./x.ts').then((m) => m.xCommand))`.

export interface CommandInput {
  pos: string[];
  values: Record<string, unknown>;
  rest: string[];
  json: boolean;
  resolveLab(name: string | undefined): Promise<string>;
}

export interface ExtraCommand {
  name: string;
  usage: string;
  summary: string;
  run(input: CommandInput): Promise<number>;
}

type Run = (input: CommandInput) => Promise<number>;

/** A command whose module is imported when it runs. */
export function lazy(name: string, usage: string, summary: string, load: () => Promise<Run>): ExtraCommand {
  return { name, usage, summary, run: async (input) => (await load())(input) };
}

export const extraCommands: ExtraCommand[] = [
  lazy('kubeconfig', 'kubeconfig [LAB] [-o FILE]', 'write an admin kubeconfig for the VIP (kubectl, k9s, Lens)', () =>
    import('./cluster.ts').then((m) => m.kubeconfigCommand),
  ),
  lazy(
    'snapshot',
    'snapshot ACTION [--lab LAB]',
    'etcd snapshots on disk B: save, list, restore [--snapshot FILE | --from LOCAL] [--yes|--step], export FILE -o LOCAL',
    () => import('./cluster.ts').then((m) => m.snapshotCommand),
  ),
  lazy(
    'ui',
    'ui [--port N]',
    'the app in a browser: serves the UI on 127.0.0.1 with a per-start token in the URL',
    () => import('./ui.ts').then((m) => m.uiCommand),
  ),
  lazy(
    'drill',
    'drill list|run|report',
    'break the lab on purpose and measure it (--lab LAB, --yes, --step, --json)',
    () => import('./drill.ts').then((m) => m.drillCommand),
  ),
  lazy(
    'fault',
    'fault HOST ACTION [--lab LAB]',
    'break a host by hand: power-off|power-on|freeze|thaw|unplug|plug',
    () => import('./operate.ts').then((m) => m.faultCommand),
  ),
  lazy(
    'service',
    'service HOST NAME ACTION',
    'stop|start|kill one component (etcd, kube-apiserver, haproxy, keepalived, kubelet…)',
    () => import('./operate.ts').then((m) => m.serviceCommand),
  ),
  lazy('heal', 'heal [LAB]', 'put every host and service back, then wait for a healthy lab', () =>
    import('./operate.ts').then((m) => m.healCommand),
  ),
  lazy(
    'watch',
    'watch [LAB] [--duration S]',
    'the drills’ probe through the VIP, live, until Ctrl-C; then a report with what was done by hand',
    () => import('./watch.ts').then((m) => m.watchCommand),
  ),
  lazy(
    'add',
    'add worker|master [NAME]',
    'add a host to the live lab (a worker joins; a master: etcd member add and the control plane)',
    () => import('./membership.ts').then((m) => m.addCommand),
  ),
  lazy(
    'remove',
    'remove HOST [--yes]',
    'drain and delete a node, or remove a master (etcd member remove; refused if quorum would break)',
    () => import('./membership.ts').then((m) => m.removeCommand),
  ),
  lazy(
    'replace',
    'replace HOST [--yes]',
    "a new host with the same address takes over the old one's disks (data and snapshots) and rejoins",
    () => import('./membership.ts').then((m) => m.replaceCommand),
  ),
  lazy('stop', 'stop [LAB]', 'stop every process of the lab and free its memory; its state and disks stay', () =>
    import('./operate.ts').then((m) => m.stopCommand),
  ),
  lazy('start', 'start [LAB]', 'bring a stopped lab back (same addresses, same etcd data), or repair it', () =>
    import('./operate.ts').then((m) => m.startCommand),
  ),
  lazy(
    'quickstart',
    'quickstart [SPEC] [--port N]',
    'what `npm start` runs: up (or reuse) the lab, kubectl context, then serve the UI until Ctrl-C',
    () => import('./quickstart.ts').then((m) => m.quickstartCommand),
  ),
];
