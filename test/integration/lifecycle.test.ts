import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { message, startHarness, VENDAS_TOKEN, type Harness } from '../helpers/harness.js';
import { spawnService, writeConfigFile, type ServiceProcess } from '../helpers/process.js';
import { freePort, startRedisServer } from '../helpers/redis-server.js';

/**
 * The real process (`node dist/src/server.js`): start-up errors, graceful shutdown, and a
 * Redis outage while running. The emulators run in this process.
 */
let h: Harness;
let configPath: string;

beforeAll(async () => {
  h = await startHarness({ file: { worker: { concurrency: 2, shutdownGraceMs: 5000, lockDurationMs: 2000, stalledIntervalMs: 1000 } } });
  configPath = writeConfigFile(h.config);
});
afterAll(async () => {
  await h.close();
});

async function startService(env: Record<string, string> = {}, args: string[] = []): Promise<{ service: ServiceProcess; url: string }> {
  const port = await freePort();
  const service = spawnService({ args, env: { HANDOFF_CONFIG: configPath, ...h.redisEnv, PORT: String(port), LOG_LEVEL: 'info', ...env } });
  await service.waitForLine(args.includes('--role=api') ? /API listening/ : /workers running/);
  return { service, url: `http://127.0.0.1:${port}` };
}

function post(url: string, body: unknown): Promise<Response> {
  return fetch(`${url}/webhooks/vendas`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${VENDAS_TOKEN}` },
    body: JSON.stringify(body),
  });
}

describe('start-up errors', () => {
  it('a bad config exits 1 naming every bad path, without a stack trace', async () => {
    const bad = join(tmpdir(), `ho-bad-${Date.now()}.yaml`);
    writeFileSync(
      bad,
      [
        'toolzz: { token: ${NOT_SET_ANYWHERE} }',
        'channels:',
        '  vendas:',
        '    auth: { token: x }',
        '    bot: { id: nope }',
        '    humanTTLMinutes: 5',
        '    handoff: { provider: mehub, channel: short, token: m }',
      ].join('\n'),
    );
    const service = spawnService({ env: { HANDOFF_CONFIG: bad, ...h.redisEnv } });
    expect(await service.exited).toBe(1);
    const output = service.lines.join('\n');
    expect(output).toContain('toolzz.token: environment variable NOT_SET_ANYWHERE is not set');
    expect(output).toContain('channels.vendas.bot.id: must be a UUID');
    expect(output).toContain('channels.vendas.humanTTLMinutes: unknown key');
    expect(output).toContain('channels.vendas.handoff.channel: must be 16 characters');
    expect(output).not.toMatch(/\n\s+at /);
  });

  it('a missing config file exits 1 with one clear line', async () => {
    const service = spawnService({ env: { HANDOFF_CONFIG: '/nonexistent/handoff.yaml', ...h.redisEnv } });
    expect(await service.exited).toBe(1);
    expect(service.lines.join('\n')).toContain('cannot read /nonexistent/handoff.yaml: file not found');
    expect(service.lines.join('\n')).toContain('copy handoff.config.example.yaml');
  });

  it('a Redis that does not answer within 10 s exits 1 with one line naming REDIS_URL, password hidden', async () => {
    const port = await freePort();
    const service = spawnService({ env: { HANDOFF_CONFIG: configPath, REDIS_URL: `redis://app:s3cr3t-pass@127.0.0.1:${port}/0` } });
    expect(await service.exited).toBe(1);
    expect(service.lines).toHaveLength(1);
    expect(service.lines[0]).toMatch(new RegExp(`^Redis at REDIS_URL=redis://app:\\*\\*\\*@127\\.0\\.0\\.1:${port}/0 did not answer within 10 s`));
    expect(service.lines[0]).not.toContain('s3cr3t-pass');
    // It says why, and what to do.
    expect(service.lines[0]).toContain('ECONNREFUSED');
    expect(service.lines[0]).toContain('start Redis');
  }, 20_000);

  it('a cluster, or sentinels, that do not answer within 10 s exit 1 with one line naming the variable, password hidden', async () => {
    const [a, b] = [await freePort(), await freePort()];
    const cluster = spawnService({ env: { HANDOFF_CONFIG: configPath, REDIS_CLUSTER_NODES: `127.0.0.1:${a},127.0.0.1:${b}`, REDIS_PASSWORD: 'cl-s3cr3t' } });
    const sentinel = spawnService({ env: { HANDOFF_CONFIG: configPath, REDIS_SENTINELS: `127.0.0.1:${a}`, REDIS_SENTINEL_NAME: 'main', REDIS_PASSWORD: 'sn-s3cr3t' } });
    expect(await Promise.all([cluster.exited, sentinel.exited])).toEqual([1, 1]);
    expect(cluster.lines).toHaveLength(1);
    expect(cluster.lines[0]).toMatch(new RegExp(`^Redis at REDIS_CLUSTER_NODES=127\\.0\\.0\\.1:${a},127\\.0\\.0\\.1:${b} did not answer within 10 s`));
    expect(cluster.lines[0]).toContain('redis-cli --cluster check');
    expect(sentinel.lines).toHaveLength(1);
    expect(sentinel.lines[0]).toMatch(new RegExp(`^Redis at REDIS_SENTINELS=127\\.0\\.0\\.1:${a} \\(master main\\) did not answer within 10 s`));
    expect([...cluster.lines, ...sentinel.lines].join('\n')).not.toMatch(/s3cr3t/);
  }, 25_000);

  it('a bad REDIS_CLUSTER_NODES is a configuration error naming it', async () => {
    const service = spawnService({ env: { HANDOFF_CONFIG: configPath, REDIS_CLUSTER_NODES: 'not-a-node' } });
    expect(await service.exited).toBe(1);
    expect(service.lines.join('\n')).toContain('REDIS_CLUSTER_NODES: "not-a-node" is not host:port');
  });
});

describe('graceful shutdown', () => {
  it('SIGTERM: stops accepting, finishes the request in flight, exits 0', async () => {
    const { service, url } = await startService({}, ['--role=api']);
    h.toolzz.latencyMs = 1500;
    try {
      const arrived = h.toolzz.nextArrival(/send-message/);
      const inFlight = post(url, message('5511955550001', 'oi'));
      await arrived;
      service.child.kill('SIGTERM');
      await service.waitForLine(/shutting down/);
      const res = await inFlight;
      expect(res.status).toBe(200);
      expect(((await res.json()) as { status: string }).status).toBe('replied');
      expect(await service.exited).toBe(0);
      await expect(fetch(`${url}/healthz`)).rejects.toThrow();
    } finally {
      h.toolzz.latencyMs = 0;
      await service.kill('SIGKILL');
    }
  });

  it('SIGTERM: the worker finishes its active handoff before exiting 0', async () => {
    const { service } = await startService({}, ['--role=worker']);
    h.brpex.latencyMs = 700; // under the 1 s provider timeout of the harness
    try {
      const arrived = h.brpex.nextArrival(/dispatch-to-chat/);
      const res = await h.send('site', message('5511955550002', 'quero um atendente'));
      await arrived;
      service.child.kill('SIGTERM');
      expect(await service.exited).toBe(0);
      expect(h.brpex.dispatches('5511955550002')).toHaveLength(1);
      expect(await h.settled(res.body.handoffId as string, 1000)).toMatchObject({ state: 'done', attempts: 1 });
    } finally {
      h.brpex.latencyMs = 0;
      await service.kill('SIGKILL');
    }
  });
});

describe('Redis outage while running', () => {
  it('readyz and the webhook answer 503 (not 500, not a hang), and service resumes by itself', async () => {
    const redis = await startRedisServer();
    const { service, url } = await startService({ REDIS_URL: redis.url, ADMIN_TOKEN: 'adm' }, ['--role=api']);
    try {
      expect((await fetch(`${url}/readyz`)).status).toBe(200);
      expect((await post(url, message('5511955550003', 'oi'))).status).toBe(200);

      await redis.stop();
      const deadline = Date.now() + 15_000;
      let ready = await fetch(`${url}/readyz`);
      while (ready.status !== 503 && Date.now() < deadline) ready = await fetch(`${url}/readyz`);
      expect(ready.status).toBe(503);
      const started = Date.now();
      const down = await post(url, message('5511955550003', 'alô'));
      expect(down.status).toBe(503);
      expect(await down.json()).toEqual({ error: 'unavailable' });
      expect(Date.now() - started).toBeLessThan(15_000);
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      const admin = await fetch(`${url}/admin/handoffs?state=failed`, { headers: { authorization: 'Bearer adm' } });
      expect(admin.status).toBe(503);
      expect(await admin.json()).toEqual({ error: 'unavailable' });

      await redis.restart();
      const back = Date.now() + 15_000;
      let again = await fetch(`${url}/readyz`);
      while (again.status !== 200 && Date.now() < back) again = await fetch(`${url}/readyz`);
      expect(again.status).toBe(200);
      expect((await post(url, message('5511955550003', 'voltou'))).status).toBe(200);
      expect(service.child.exitCode).toBeNull();
    } finally {
      await service.kill('SIGKILL');
      await redis.destroy();
    }
  }, 40_000);
});
