import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, Redis } from 'ioredis';
import { freePort } from './local-redis.js';

/**
 * Real local Redis topologies for the tests and the benchmarks: a Redis Cluster of N masters,
 * or a master + replica watched by three Sentinels, all started from the `redis-server` and
 * `redis-cli` on the PATH, on loopback, without persistence, each process in its own temp dir.
 * Every process is tracked by pid: `destroy()` kills them and removes the dirs, and an
 * `exit` hook kills whatever a crashed run left behind.
 */

export interface HostPort {
  host: string;
  port: number;
}

const HOST = '127.0.0.1';
const CLUSTER_SLOTS = 16384;
const STARTUP_TIMEOUT_MS = 20_000;
const POLL_MS = 25;

export function hasRedisCli(): boolean {
  return spawnSync('redis-cli', ['--version'], { stdio: 'ignore' }).status === 0;
}

// ---------------------------------------------------------------------------------------------
// Process and directory tracking

const liveChildren = new Set<ChildProcess>();
const liveDirs = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of liveChildren) {
      try {
        if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
  });
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function makeDir(prefix: string): string {
  installExitHook();
  const dir = mkdtempSync(join(tmpdir(), prefix));
  liveDirs.add(dir);
  return dir;
}

function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  liveDirs.delete(dir);
}

function spawnRedis(args: string[], cwd: string): ChildProcess {
  installExitHook();
  const child = spawn('redis-server', args, { stdio: 'ignore', cwd });
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  child.once('error', () => liveChildren.delete(child)); // spawn failure; surfaced by the waits
  return child;
}

/** Sends `signal` to the process and resolves once it has exited. */
async function killChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (child.pid === undefined || hasExited(child)) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  await exited;
}

// ---------------------------------------------------------------------------------------------
// Waiting

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns a value other than `undefined`; rejects past `deadline`. */
async function until<T>(what: string, deadline: number, check: () => Promise<T | undefined>): Promise<T> {
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
      if (error instanceof ProcessExited) throw error;
    }
    if (Date.now() > deadline) {
      const cause = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out waiting for ${what}${cause}`);
    }
    await pause(POLL_MS);
  }
}

class ProcessExited extends Error {}

/** A Redis client that does not retry: each command fails fast when the server is not there. */
function probeClient(port: number, password?: string): Redis {
  const client = new Redis({
    host: HOST,
    port,
    password,
    lazyConnect: true,
    connectTimeout: 1000,
    commandTimeout: 2000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  client.on('error', () => undefined); // the rejected command carries the error
  return client;
}

/** Connects a probe client once the server answers PING; rejects if the process exits first. */
async function connectWhenUp(child: ChildProcess, port: number, deadline: number, password?: string): Promise<Redis> {
  return until(`redis-server on port ${port} to answer PING`, deadline, async () => {
    if (hasExited(child)) throw new ProcessExited(`redis-server on port ${port} exited (code ${child.exitCode}, signal ${child.signalCode})`);
    const client = probeClient(port, password);
    try {
      await client.connect();
      if ((await client.ping()) === 'PONG') return client;
    } catch (error) {
      client.disconnect();
      throw error;
    }
    client.disconnect();
    return undefined;
  });
}

/** `field:value` lines of an INFO-style reply. */
function parseInfo(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  return fields;
}

/** A RESP2 flat `[k, v, k, v…]` array as a map. */
function parseFlat(reply: unknown): Map<string, string> {
  const fields = new Map<string, string>();
  if (!Array.isArray(reply)) return fields;
  for (let i = 0; i + 1 < reply.length; i += 2) fields.set(String(reply[i]), String(reply[i + 1]));
  return fields;
}

async function isListenable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, HOST, () => server.close(() => resolve(true)));
  });
}

/** `count` distinct free ports whose cluster bus port (port + 10000) is free too. */
async function freeClusterPorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  const taken = new Set<number>();
  for (let attempts = 0; ports.length < count; attempts++) {
    if (attempts > count * 50) throw new Error('could not find free ports for a Redis Cluster');
    const port = await freePort();
    const bus = port + 10_000;
    if (bus > 65_535 || taken.has(port) || taken.has(bus)) continue;
    if (!(await isListenable(bus))) continue;
    ports.push(port);
    taken.add(port).add(bus);
  }
  return ports;
}

function runRedisCli(args: string[], timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('redis-cli', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      const shown = args.map((arg, i) => (args[i - 1] === '-a' ? '***' : arg)).join(' ');
      if (code === 0) resolve();
      else reject(new Error(`redis-cli ${shown} failed (code ${code}, signal ${signal}):\n${output}`));
    });
  });
}

function persistenceOff(dir: string): string[] {
  return ['--save', '', '--appendonly', 'no', '--dir', dir];
}

function authArgs(password?: string): string[] {
  return password === undefined ? [] : ['--requirepass', password, '--masterauth', password];
}

const addressList = (nodes: HostPort[]) => nodes.map((n) => `${n.host}:${n.port}`).join(',');

// ---------------------------------------------------------------------------------------------
// Cluster

export interface RedisCluster {
  /** The masters, in the order they were started. */
  nodes: HostPort[];
  /** `127.0.0.1:p1,127.0.0.1:p2,…`, the form of REDIS_CLUSTER_NODES. */
  nodesEnv: string;
  password?: string;
  /** Pids of the node processes, in the order of `nodes`. */
  pids: number[];
  /** Sends `signal` (SIGKILL by default) to the node on `port` and waits for it to exit. */
  killNode(port: number, signal?: NodeJS.Signals): Promise<void>;
  /** Kills every node, waits for them to exit and removes their directories. */
  destroy(): Promise<void>;
}

/**
 * A Redis Cluster of `masters` (default 3) masters and no replicas, every slot assigned,
 * `cluster_state:ok` on every node and a `Cluster` client able to SET and GET when it resolves.
 */
export async function startRedisCluster(options: { masters?: number; password?: string } = {}): Promise<RedisCluster> {
  const masters = options.masters ?? 3;
  const { password } = options;
  if (!Number.isInteger(masters) || masters < 3) throw new Error(`a Redis Cluster needs at least 3 masters (got ${masters})`);
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;

  const ports = await freeClusterPorts(masters);
  const dirs: string[] = [];
  const children: ChildProcess[] = [];
  const probes: Redis[] = [];
  const nodes: HostPort[] = ports.map((port) => ({ host: HOST, port }));

  let destroyed: Promise<void> | undefined;
  const destroy = () =>
    (destroyed ??= (async () => {
      for (const probe of probes) probe.disconnect();
      await Promise.all(children.map((child) => killChild(child)));
      for (const dir of dirs) removeDir(dir);
    })());

  try {
    for (const port of ports) {
      const dir = makeDir(`ho-redis-cluster-${port}-`);
      dirs.push(dir);
      children.push(
        spawnRedis(
          [
            '--port', String(port),
            '--bind', HOST,
            '--cluster-enabled', 'yes',
            '--cluster-config-file', 'nodes.conf',
            '--cluster-node-timeout', '2000',
            ...persistenceOff(dir),
            ...authArgs(password),
          ],
          dir,
        ),
      );
    }
    for (const [i, port] of ports.entries()) probes.push(await connectWhenUp(children[i]!, port, deadline, password));

    const auth = password === undefined ? [] : ['-a', password, '--no-auth-warning'];
    await runRedisCli(
      [...auth, '--cluster', 'create', ...nodes.map((n) => `${n.host}:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'],
      Math.max(1000, deadline - Date.now()),
    );

    await Promise.all(
      probes.map((probe, i) =>
        until(`cluster_state:ok on port ${ports[i]}`, deadline, async () => {
          const info = parseInfo(String(await probe.call('CLUSTER', 'INFO')));
          const ok = info.get('cluster_state') === 'ok' && info.get('cluster_slots_assigned') === String(CLUSTER_SLOTS) && info.get('cluster_known_nodes') === String(masters);
          return ok ? true : undefined;
        }),
      ),
    );

    const client = new Cluster(nodes, { redisOptions: { password, connectTimeout: 1000 }, clusterRetryStrategy: () => 50 });
    client.on('error', () => undefined);
    try {
      await until('a Cluster client to SET and GET', deadline, async () => {
        const key = `redis-topology:ready:${Date.now()}`;
        await client.set(key, '1', 'PX', 10_000);
        return (await client.get(key)) === '1' ? true : undefined;
      });
    } finally {
      client.disconnect();
    }
    for (const probe of probes) probe.disconnect();
    probes.length = 0;
  } catch (error) {
    await destroy();
    throw error;
  }

  return {
    nodes,
    nodesEnv: addressList(nodes),
    ...(password === undefined ? {} : { password }),
    pids: children.map((child) => child.pid!),
    async killNode(port, signal = 'SIGKILL') {
      const index = ports.indexOf(port);
      if (index < 0) throw new Error(`no cluster node on port ${port}`);
      await killChild(children[index]!, signal);
    },
    destroy,
  };
}

// ---------------------------------------------------------------------------------------------
// Sentinel

export interface RedisSentinelSet {
  /** The master as started (after a failover it is the old one). */
  master: HostPort;
  /** The replica as started (after a failover it is usually the new master). */
  replica: HostPort;
  sentinels: HostPort[];
  /** `127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3`, the form of REDIS_SENTINELS. */
  sentinelsEnv: string;
  /** The master group name the sentinels monitor. */
  name: string;
  password?: string;
  /** Pids of the master, the replica and the three sentinels, in that order. */
  pids: number[];
  /** The master as of the last failover waited for (`master` until then). */
  currentMaster(): HostPort;
  /** Kills the current master (SIGKILL by default) and waits for it to exit. */
  killMaster(signal?: NodeJS.Signals): Promise<void>;
  /** Asks a sentinel for a planned failover (`SENTINEL FAILOVER`): the master is demoted, not killed. */
  failover(): Promise<void>;
  /**
   * Resolves with the new master once every sentinel still running reports the same master
   * other than the current one and that node answers ROLE as a master (it becomes the current
   * master); rejects after `timeoutMs`.
   */
  waitForFailover(timeoutMs: number): Promise<HostPort>;
  /** Kills every process, waits for them to exit and removes their directories. */
  destroy(): Promise<void>;
}

/**
 * One master, one replica and three sentinels (quorum 2, down-after 1 s, failover-timeout 5 s).
 * Resolves once the replica is in sync and every sentinel knows the master, the replica and the
 * two other sentinels, so that killing the master starts a failover right away.
 */
export async function startRedisSentinel(options: { name?: string; password?: string } = {}): Promise<RedisSentinelSet> {
  const name = options.name ?? 'mymaster';
  const { password } = options;
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;

  const taken = new Set<number>();
  const port = async () => {
    for (;;) {
      const candidate = await freePort();
      if (!taken.has(candidate)) {
        taken.add(candidate);
        return candidate;
      }
    }
  };
  const masterPort = await port();
  const replicaPort = await port();
  const sentinelPorts = [await port(), await port(), await port()];

  const master: HostPort = { host: HOST, port: masterPort };
  const replica: HostPort = { host: HOST, port: replicaPort };
  const sentinels: HostPort[] = sentinelPorts.map((p) => ({ host: HOST, port: p }));

  const dirs: string[] = [];
  const probes: Redis[] = [];
  let masterChild: ChildProcess | undefined;
  let replicaChild: ChildProcess | undefined;
  const sentinelChildren: ChildProcess[] = [];
  const allChildren = () => [masterChild, replicaChild, ...sentinelChildren].filter((c): c is ChildProcess => c !== undefined);

  let destroyed: Promise<void> | undefined;
  const destroy = () =>
    (destroyed ??= (async () => {
      for (const probe of probes) probe.disconnect();
      await Promise.all(allChildren().map((child) => killChild(child)));
      for (const dir of dirs) removeDir(dir);
    })());

  const dataNode = (p: number, extra: string[]) => {
    const dir = makeDir(`ho-redis-sentinel-data-${p}-`);
    dirs.push(dir);
    // Diskless sync waits 5 s by default for more replicas before it starts; start it now.
    const args = ['--port', String(p), '--bind', HOST, '--repl-diskless-sync-delay', '0', ...persistenceOff(dir), ...authArgs(password), ...extra];
    return spawnRedis(args, dir);
  };

  try {
    masterChild = dataNode(masterPort, []);
    replicaChild = dataNode(replicaPort, ['--replicaof', HOST, String(masterPort)]);
    probes.push(await connectWhenUp(masterChild, masterPort, deadline, password));
    const replicaProbe = await connectWhenUp(replicaChild, replicaPort, deadline, password);
    probes.push(replicaProbe);
    await until(`the replica on port ${replicaPort} to sync with the master`, deadline, async () => {
      const info = parseInfo(await replicaProbe.info('replication'));
      return info.get('master_link_status') === 'up' ? true : undefined;
    });

    // The sentinels start once the replica is in sync, so their first INFO of the master
    // (the next one is 10 s later) already lists it.
    for (const p of sentinelPorts) {
      const dir = makeDir(`ho-redis-sentinel-${p}-`);
      dirs.push(dir);
      const conf = join(dir, 'sentinel.conf');
      const lines = [
        `port ${p}`,
        `bind ${HOST}`,
        `dir ${dir}`,
        `sentinel monitor ${name} ${HOST} ${masterPort} 2`,
        `sentinel down-after-milliseconds ${name} 1000`,
        `sentinel failover-timeout ${name} 5000`,
        `sentinel parallel-syncs ${name} 1`,
      ];
      if (password !== undefined) lines.push(`sentinel auth-pass ${name} ${password}`);
      writeFileSync(conf, `${lines.join('\n')}\n`);
      sentinelChildren.push(spawnRedis([conf, '--sentinel'], dir));
    }

    const sentinelProbes: Redis[] = [];
    for (const [i, p] of sentinelPorts.entries()) {
      const probe = await connectWhenUp(sentinelChildren[i]!, p, deadline);
      probes.push(probe);
      sentinelProbes.push(probe);
    }

    await Promise.all(
      sentinelProbes.map((probe, i) =>
        until(`sentinel on port ${sentinelPorts[i]} to know the master, the replica and the other sentinels`, deadline, async () => {
          const addr = (await probe.call('SENTINEL', 'get-master-addr-by-name', name)) as string[] | null;
          if (!addr || addr[0] !== HOST || addr[1] !== String(masterPort)) return undefined;
          const replicas = ((await probe.call('SENTINEL', 'replicas', name)) as unknown[]).map(parseFlat);
          const replicaKnown = replicas.some(
            (r) => r.get('port') === String(replicaPort) && r.get('flags') === 'slave' && r.get('master-link-status') === 'ok',
          );
          const others = ((await probe.call('SENTINEL', 'sentinels', name)) as unknown[]).map(parseFlat);
          return replicaKnown && others.length === sentinelPorts.length - 1 ? true : undefined;
        }),
      ),
    );
    for (const probe of probes) probe.disconnect();
    probes.length = 0;
  } catch (error) {
    await destroy();
    throw error;
  }

  let currentPort = masterPort;
  const set: RedisSentinelSet = {
    master,
    replica,
    sentinels,
    sentinelsEnv: addressList(sentinels),
    name,
    ...(password === undefined ? {} : { password }),
    pids: allChildren().map((child) => child.pid!),
    currentMaster: () => ({ host: HOST, port: currentPort }),
    async killMaster(signal = 'SIGKILL') {
      await killChild(currentPort === masterPort ? masterChild : replicaChild, signal);
    },
    async failover() {
      const client = probeClient(sentinelPorts.find((_, i) => !hasExited(sentinelChildren[i]!))!);
      try {
        await client.connect();
        await client.call('SENTINEL', 'FAILOVER', name);
      } finally {
        client.disconnect();
      }
    },
    async waitForFailover(timeoutMs) {
      const failoverDeadline = Date.now() + timeoutMs;
      const clients = sentinelPorts.map((p) => probeClient(p));
      const from = currentPort;
      try {
        const newMaster = await until(`a failover away from ${HOST}:${from}`, failoverDeadline, async () => {
          const reported = new Set<string>();
          for (const [i, client] of clients.entries()) {
            if (hasExited(sentinelChildren[i]!)) continue;
            if (client.status !== 'ready') await client.connect().catch(() => undefined);
            const addr = (await client.call('SENTINEL', 'get-master-addr-by-name', name)) as string[] | null;
            if (!addr) return undefined;
            reported.add(`${addr[0]}:${addr[1]}`);
          }
          if (reported.size !== 1) return undefined;
          const [only] = reported;
          const [host, portText] = only!.split(':') as [string, string];
          const newMaster: HostPort = { host, port: Number(portText) };
          if (newMaster.port === from) return undefined;
          const probe = probeClient(newMaster.port, password);
          try {
            await probe.connect();
            const role = (await probe.call('ROLE')) as unknown[];
            return role[0] === 'master' ? newMaster : undefined;
          } finally {
            probe.disconnect();
          }
        });
        currentPort = newMaster.port;
        return newMaster;
      } finally {
        for (const client of clients) client.disconnect();
      }
    },
    destroy,
  };
  return set;
}
