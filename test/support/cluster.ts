// A 3-node RabbitMQ cluster of the test's own on this machine (see /work/shared/notes/cluster.md): nodes
// tb1..tb3@localhost on AMQP ports 5681-5683 and distribution ports 25681-25683, data in a temporary
// directory, clustered among themselves and never with the machine's own node (rabbit@localhost).
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { waitFor } from './broker.js';
import { Opened } from './scope.js';

const SERVER = existsSync('/usr/lib/rabbitmq/bin/rabbitmq-server') ? '/usr/lib/rabbitmq/bin/rabbitmq-server' : 'rabbitmq-server';
const NODES = [1, 2, 3] as const;
/**
 * Node names and ports: tb1..tb3 on 5681-5683 (distribution 25681-25683) unless TB_CLUSTER_NAME and
 * TB_CLUSTER_PORT_BASE say otherwise (e.g. `rt` and 5690: rt1..rt3 on 5691-5693 and 25691-25693), so a
 * second cluster can run beside one that CI has started.
 */
const PREFIX = process.env['TB_CLUSTER_NAME'] ?? 'tb';
const PORT_BASE = Number(process.env['TB_CLUSTER_PORT_BASE'] ?? 5680);
const amqpPort = (i: number) => PORT_BASE + i;
const distPort = (i: number) => 20_000 + PORT_BASE + i;
const nodeName = (i: number) => `${PREFIX}${i}@localhost`;
/** How long a node may take to boot (about 10 s here; CI machines are slower). */
const BOOT_MS = 120_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function run(command: string, args: readonly string[], timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { encoding: 'utf8', timeout: timeoutMs }, (err, stdout, stderr) =>
      err ? reject(new Error(`${command} ${args.join(' ')}: ${err.message} ${stderr}`.trim())) : resolve(stdout),
    );
  });
}

/** rabbitmqctl against one node of ours (run as root, Debian's wrapper switches to the rabbitmq user). */
export function ctl(i: number, ...args: string[]): Promise<string> {
  return run('rabbitmqctl', ['-n', nodeName(i), ...args]);
}

/**
 * The Erlang VM of a node, found by the node name in its environment (the pid file may be gone or stale).
 * Only beam.smp: an epmd our node started inherits that environment, and the machine's node needs it.
 */
function pidsOf(i: number): number[] {
  const wanted = `RABBITMQ_NODENAME=${nodeName(i)}`;
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() !== 'beam.smp') continue;
      if (readFileSync(`/proc/${entry}/environ`, 'latin1').split('\0').includes(wanted)) pids.push(Number(entry));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return pids;
}

function killAll(i: number): boolean {
  const pids = pidsOf(i);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // exited meanwhile
    }
  }
  return pids.length > 0;
}

/** Retries a command until it succeeds (await_startup and join_cluster fail at once while a node registers). */
const retry = (what: string, command: () => Promise<unknown>, ms: number): Promise<true> =>
  waitFor(`cluster: ${what}`, async () => (await command(), true as const), ms);

/** Fails at once, naming the port, when something else holds one a node needs (it would only time out booting). */
async function assertFree(port: number): Promise<void> {
  const server = createServer().listen(port, '127.0.0.1');
  const [error] = (await Promise.race([once(server, 'listening').then(() => [undefined]), once(server, 'error')])) as [Error | undefined];
  if (error) throw new Error(`cluster: port ${port} is in use (${error.message}); the cluster test needs ${NODES.map(amqpPort).join(', ')} and ${NODES.map(distPort).join(', ')}`);
  await new Promise((r) => server.close(r));
}

export class RabbitCluster {
  private readonly base = mkdtempSync(join(tmpdir(), 'taskbus-cluster-'));
  private stopped = false;
  /** Kills the nodes if the test process exits without calling stop() (mocha's --exit, an uncaught error). */
  private readonly onExit = () => NODES.forEach(killAll);

  private constructor(
    private readonly user: string,
    readonly vhost: string,
  ) {
    process.once('exit', this.onExit);
  }

  /** Starts tb1..tb3, waits until each has booted, and joins tb2 and tb3 to tb1. */
  static async start(): Promise<RabbitCluster> {
    // As root the nodes run as `rabbitmq`, whose Erlang cookie rabbitmqctl uses; otherwise as ourselves.
    const cluster = new RabbitCluster(process.getuid?.() === 0 ? 'rabbitmq' : userInfo().username, '/');
    try {
      for (const i of NODES) if (killAll(i)) process.stderr.write(`cluster: killed a stale ${nodeName(i)} from an earlier run\n`);
      await sleep(500); // let epmd forget the killed names
      for (const i of NODES) for (const port of [amqpPort(i), distPort(i)]) await assertFree(port);
      chmodSync(cluster.base, 0o755);
      for (const i of NODES) cluster.prepare(i);
      await Promise.all(NODES.map((i) => cluster.boot(i)));
      for (const i of NODES.slice(1)) {
        await ctl(i, 'stop_app');
        await retry(`${nodeName(i)} joining ${nodeName(1)}`, () => ctl(i, 'join_cluster', nodeName(1)), 60_000);
        await ctl(i, 'start_app');
      }
      await retry('all three nodes running', async () => {
        const status = await ctl(1, 'cluster_status', '--formatter', 'json');
        const running = (JSON.parse(status) as { running_nodes: string[] }).running_nodes;
        if (running.length !== NODES.length) throw new Error(`running: ${running.join(', ')}`);
      }, 60_000);
      return cluster;
    } catch (e) {
      await cluster.stop();
      throw e;
    }
  }

  private dir(i: number): string {
    return join(this.base, `${PREFIX}${i}`);
  }

  private prepare(i: number): void {
    const d = this.dir(i);
    mkdirSync(join(d, 'log'), { recursive: true });
    writeFileSync(join(d, 'plugins'), '[].\n');
    writeFileSync(join(d, 'rabbitmq.conf'), `listeners.tcp.local = 127.0.0.1:${amqpPort(i)}\nloopback_users = none\n`);
    if (this.user === 'rabbitmq') {
      const { uid, gid } = idOf('rabbitmq');
      for (const p of [d, join(d, 'log'), join(d, 'plugins'), join(d, 'rabbitmq.conf')]) chownSync(p, uid, gid);
    }
  }

  /** Starts a node (detached) on its data directory and waits until it has booted. */
  private async boot(i: number): Promise<void> {
    const d = this.dir(i);
    const env = {
      RABBITMQ_NODENAME: nodeName(i),
      RABBITMQ_CONFIG_FILE: join(d, 'rabbitmq.conf'),
      RABBITMQ_DIST_PORT: String(distPort(i)),
      RABBITMQ_MNESIA_BASE: join(d, 'mnesia'),
      RABBITMQ_LOG_BASE: join(d, 'log'),
      RABBITMQ_PID_FILE: join(d, 'pid'),
      RABBITMQ_ENABLED_PLUGINS_FILE: join(d, 'plugins'),
    };
    const assignments = Object.entries(env).map(([k, v]) => `${k}='${v}'`).join(' ');
    const command = `cd /var/lib/rabbitmq 2>/dev/null || cd /tmp; ${assignments} exec ${SERVER} -detached`;
    const [cmd, args] = this.user === 'rabbitmq' ? ['su', ['rabbitmq', '-s', '/bin/sh', '-c', command]] : ['/bin/sh', ['-c', command]];
    await new Promise<void>((resolve, reject) => {
      const child = spawn(cmd as string, args as string[], { stdio: 'ignore' });
      child.once('error', reject);
      child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`starting ${nodeName(i)} exited ${code}; see ${join(d, 'log')}`))));
    });
    await retry(`${nodeName(i)} booting (log in ${join(d, 'log')})`, () => ctl(i, 'await_startup', '--timeout', '30'), BOOT_MS);
  }

  /** AMQP URL of node i (1..3). */
  url(i: number): string {
    return `amqp://guest:guest@127.0.0.1:${amqpPort(i)}${this.vhost === '/' ? '' : `/${encodeURIComponent(this.vhost)}`}`;
  }

  /** Every node's URL, separated by `;`, as AMQP_URL takes them. */
  get urls(): string {
    return NODES.map((i) => this.url(i)).join(';');
  }

  /** Node (1..3) leading a quorum queue, or holding a classic one; asked of the nodes that answer. */
  async leaderOf(queue: string): Promise<number> {
    const list = async (i: number, ...args: string[]) =>
      JSON.parse(await ctl(i, 'list_queues', '-p', this.vhost, ...args, '--formatter', 'json')) as Array<{ name: string; type?: string; leader?: string }>;
    let last: unknown;
    for (const i of NODES) {
      try {
        const row = (await list(i, 'name', 'type', 'leader')).find((r) => r.name === queue);
        if (!row) throw new Error(`no queue ${queue}`);
        if (row.type === 'quorum') {
          const n = NODES.find((k) => nodeName(k) === row.leader);
          if (n !== undefined) return n;
          throw new Error(`queue ${queue} has no leader among tb1..tb3 (${String(row.leader)})`);
        }
        // A classic queue names no leader: it lives on the one node that lists it as local.
        for (const k of NODES) if ((await list(k, '--local', 'name').catch(() => [])).some((r) => r.name === queue)) return k;
        throw new Error(`no node holds ${queue}`);
      } catch (e) {
        last = e;
      }
    }
    throw new Error(`cluster: cannot tell where ${queue} lives: ${String(last)}`);
  }

  /** kill -9 of node i: no clean shutdown, its connections drop at once. */
  async kill9(i: number): Promise<void> {
    if (!killAll(i)) throw new Error(`cluster: ${nodeName(i)} is not running`);
    await retry(`${nodeName(i)} to exit`, async () => {
      if (pidsOf(i).length > 0) throw new Error('still running');
    }, 10_000);
  }

  /** Starts node i again on its data (it rejoins the cluster) and waits until it has booted. */
  async restart(i: number): Promise<void> {
    await this.boot(i);
  }

  /** Stops every node (killed: their data is thrown away, a clean stop buys nothing) and removes the data. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    NODES.forEach(killAll);
    await retry('every node to exit', async () => {
      if (NODES.some((i) => pidsOf(i).length > 0)) throw new Error('still running');
    }, 10_000);
    process.removeListener('exit', this.onExit);
    rmSync(this.base, { recursive: true, force: true });
  }
}

/** uid and gid of a local user, from /etc/passwd. */
function idOf(user: string): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${user}:`));
  const [, , uid, gid] = line?.split(':') ?? [];
  if (uid === undefined || gid === undefined) throw new Error(`cluster: no user ${user} on this machine (is rabbitmq-server installed?)`);
  return { uid: Number(uid), gid: Number(gid) };
}

/**
 * A cluster for one describe block: started before its tests; after them the clients and workers tracked in
 * `opened` are closed (failures ignored: their nodes may be down) and the cluster stopped.
 */
export function clusterForBlock(): { cluster: () => RabbitCluster; opened: Opened } {
  let cluster: RabbitCluster | undefined;
  const opened = new Opened();
  before(async () => {
    cluster = await RabbitCluster.start();
  });
  after(async () => {
    await opened.closeAll(true);
    await cluster?.stop();
  });
  return { cluster: () => cluster!, opened };
}
