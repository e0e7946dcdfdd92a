import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  APP_TOKEN,
  BRPEX_TOKEN,
  MEHUB_TOKEN,
  message,
  SITE_SECRET,
  startHarness,
  SUPERAGENTES_TOKEN,
  TOOLZZ_TOKEN,
  VENDAS_TOKEN,
  type Harness,
} from '../helpers/harness.js';
import { signedHeaders } from '../helpers/sign.js';

const ADMIN = 'admin-secret-token-xyz';
let h: Harness;

beforeAll(async () => {
  h = await startHarness({ worker: true, adminToken: ADMIN });
});
afterAll(async () => {
  await h.close();
});

describe('logs', () => {
  it('never contain a configured token, secret, signature or authorization header, whatever happens', async () => {
    const signatures: string[] = [];
    const signedSend = async (body: Record<string, unknown>, tamper = false) => {
      const raw = JSON.stringify(body);
      const headers = signedHeaders(SITE_SECRET, raw);
      signatures.push((headers['webhook-signature'] as string).slice(3));
      if (tamper) headers['webhook-signature'] = `v1,${Buffer.from('forged').toString('base64')}`;
      return h.send('site', undefined, { raw, auth: false, headers });
    };

    // Successful paths on every channel and platform.
    h.mehub.addChat({ phone: '5511966660001' });
    h.superagentes.addConversation({ channelExternalId: '5511966660003' });
    const handoffs = [
      await h.send('vendas', message('5511966660001', 'quero um atendente')),
      await signedSend(message('5511966660002', 'quero um atendente')),
      await h.send('app', message('5511966660003', 'quero um atendente')),
    ];
    for (const res of handoffs) await h.settled(res.body.handoffId as string);

    // Failure paths: bad credentials in, bad credentials out, upstream errors.
    await h.send('vendas', message('5511966660004', 'oi'), { auth: false, headers: { authorization: `Bearer ${VENDAS_TOKEN}-wrong` } });
    await signedSend(message('5511966660005', 'oi'), true);
    h.toolzz.inject('send-message', { status: 401, body: { message: 'Unauthenticated.' } }, { destroy: true });
    await h.send('vendas', message('5511966660006', 'oi'));
    await h.send('vendas', message('5511966660007', 'oi'));
    h.brpex.inject('dispatch', { status: 401, body: { message: 'unauthorized' } });
    const failed = await signedSend(message('5511966660008', 'atendente'));
    await h.settled(failed.body.handoffId as string);
    await fetch(`${h.url}/admin/handoffs`, { headers: { authorization: 'Bearer wrong-admin' } });
    await fetch(`${h.url}/admin/handoffs`, { headers: { authorization: `Bearer ${ADMIN}` } });
    await fetch(`${h.url}/admin/superagentes/bulk-status`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ status: 'RESOLVED', channel: 'whatsapp' }),
    });

    const logs = h.logs.text;
    expect(logs.length).toBeGreaterThan(1000);
    const secrets = [TOOLZZ_TOKEN, VENDAS_TOKEN, APP_TOKEN, SITE_SECRET, SITE_SECRET.slice('whsec_'.length), MEHUB_TOKEN, SUPERAGENTES_TOKEN, BRPEX_TOKEN, ADMIN, ...signatures];
    for (const secret of secrets) expect(logs, `leaked ${secret.slice(0, 6)}…`).not.toContain(secret);
    expect(logs.toLowerCase()).not.toMatch(/"authorization":"(bearer|basic)/);
  });

  it('one line per request with method, path, status, duration, channel and request id', async () => {
    const res = await h.send('vendas', message('5511966660010', 'oi'), { headers: { 'x-request-id': 'req-abc-123' } });
    expect(res.headers.get('x-request-id')).toBe('req-abc-123');
    const line = h.logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.reqId === 'req-abc-123' && l.msg === 'request');
    expect(line).toMatchObject({ method: 'POST', path: '/webhooks/vendas', status: 200, channel: 'vendas', durationMs: expect.any(Number) });
  });

  it('makes a request id when none (or a malformed one) comes in', async () => {
    const res = await h.send('vendas', message('5511966660011', 'oi'), { headers: { 'x-request-id': 'bad id with spaces' } });
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('one line per handoff attempt, carrying the handoff id', async () => {
    const res = await h.send('app', message('5511966660012', 'atendente'));
    await h.settled(res.body.handoffId as string);
    const attempts = h.logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'handoff attempt' && l.handoffId === res.body.handoffId);
    expect(attempts).toHaveLength(1);
    expect(attempts[0]).toMatchObject({ attempt: 1, outcome: 'failed', channel: 'app', provider: 'superagentes' });
  });
});
