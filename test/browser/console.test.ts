import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { deliverEvolutionWebhook, evolutionUpsert } from '../../src/sandbox/evolution.js';
import { asyncChannels, defaultChannels, EVO_TOKEN, message, startHarness, BRPEX_TOKEN, type Harness } from '../helpers/harness.js';
import { waitUntil } from '../helpers/wait.js';

/**
 * The operator console in a real browser (SPEC §14): Debian's Chromium driven by
 * playwright-core (`CHROMIUM_PATH`, default /usr/bin/chromium; `.ci/run` installs it). The
 * list with each state, filter and search, the timeline of a failed handoff with its error,
 * give back to the bot and retry through the UI (checked through the API afterwards), a live
 * update without a reload, the XSS attempt, no console errors, 401 without the token, and a
 * phone-sized screen.
 */
const ADMIN = 'console-browser-admin-token';
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const XSS_NAME = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>';

let h: Harness;
let browser: Browser;
let seq = 0;
const newPhone = () => `55519${String(Date.now() % 100000).padStart(5, '0')}${String(++seq).padStart(3, '0')}`;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium, or set CHROMIUM_PATH`);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
  h = await startHarness({
    worker: true,
    adminToken: ADMIN,
    channels: (replyUrl) => ({
      ...asyncChannels(replyUrl),
      ...defaultChannels(),
      loja: { auth: { token: 'console-loja-token' }, bot: { id: '6b3c9f0e-1c2d-4e5f-8a9b-0c1d2e3f4a5b' }, handoff: { provider: 'brpex', subdomain: 'minhaempresa', token: BRPEX_TOKEN } },
    }),
  });
  h.evolution.webhookUrl = `${h.url}/webhooks/evo`;
});
afterAll(async () => {
  await browser?.close();
  await h?.close();
});

/** The page's globals, as seen from `page.evaluate` (this file is compiled without the DOM library). */
interface PageGlobals {
  document: { activeElement: unknown; documentElement: { scrollWidth: number } };
  innerWidth: number;
  __marker?: number;
  __pwned?: number;
}

/** Every console error and page error of the pages a test opened: there must be none. */
let problems: string[] = [];
const contexts: BrowserContext[] = [];
afterEach(async () => {
  await Promise.all(contexts.splice(0).map((c) => c.close()));
  const found = problems;
  problems = [];
  expect(found).toEqual([]);
});

async function open(options: { credentials?: boolean; viewport?: { width: number; height: number } } = {}): Promise<Page> {
  const context = await browser.newContext({
    viewport: options.viewport ?? { width: 1280, height: 800 },
    // HTTP Basic, sent with every request (as a browser does once it has the credentials).
    ...(options.credentials === false ? {} : { extraHTTPHeaders: { authorization: `Basic ${Buffer.from(`ops:${ADMIN}`).toString('base64')}` } }),
  });
  contexts.push(context);
  const page = await context.newPage();
  page.on('console', (msg) => {
    // The 401s of the sign-in test (the page, and the wrong token) are expected.
    if (msg.type() === 'error' && !(options.credentials === false && /401/.test(msg.text()))) problems.push(msg.text());
  });
  page.on('pageerror', (error) => problems.push(error.message));
  await page.goto(`${h.url}/admin/console`);
  return page;
}

const says = (channel: string, phone: string, text: string, name: string) => h.send(channel, message(phone, text, { contact: { phone, name } }));
const api = async (path: string) => (await (await fetch(`${h.url}${path}`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as Record<string, unknown>;
const rowOf = (page: Page, phone: string) => page.locator('#rows tr', { hasText: phone });

describe('the operator console', () => {
  it('lists conversations in each state; filters by state and channel; searches by phone and by name', async () => {
    const bot = newPhone();
    const failed = newPhone();
    const human = newPhone();
    await says('vendas', bot, 'oi', 'Bruno Bot');
    const broken = await says('app', failed, 'quero um atendente', 'Flávia Falhou');
    await h.settled(broken.body.handoffId as string);
    h.mehub.addChat({ phone: human, name: 'Helena', lastMessage: 'oi' });
    const handed = await says('vendas', human, 'quero um atendente', 'Helena Humana');
    await h.settled(handed.body.handoffId as string);

    // A person answering from the shop's phone (Evolution).
    const byPhone = newPhone();
    await deliverEvolutionWebhook(`${h.url}/webhooks/evo`, evolutionUpsert({ instance: 'loja', phone: byPhone, pushName: 'Pedro Telefone', text: 'oi' }), { authorization: `Bearer ${EVO_TOKEN}` });
    await h.evolution.waitForSent(1);
    await h.evolution.phoneSend(byPhone, 'Oi, aqui é a Júlia, da loja.');
    // A handoff BRPEX is slow to take: pending meanwhile.
    const pending = newPhone();
    h.brpex.inject('dispatch', ...Array.from({ length: 5 }, () => ({ delayMs: 3_000 })));
    await says('loja', pending, 'quero um atendente', 'Paulo Pendente');

    const page = await open();
    await expect.poll(() => rowOf(page, pending).locator('.badge').textContent()).toBe('handoff pending');
    await expect.poll(() => rowOf(page, byPhone).locator('.badge').textContent()).toBe('human');
    expect(await rowOf(page, byPhone).textContent()).toContain('a person on the phone');
    h.brpex.reset();
    await expect.poll(() => rowOf(page, bot).count()).toBe(1);
    await expect.poll(() => rowOf(page, failed).locator('.badge').textContent()).toBe('handoff failed');
    await expect.poll(() => rowOf(page, human).locator('.badge').textContent()).toBe('human');
    expect(await rowOf(page, bot).locator('.badge').textContent()).toBe('bot');
    expect(await rowOf(page, human).textContent()).toContain('helpdesk (mehub)');
    expect(await page.locator('#fig-done').textContent()).not.toBe('–');

    // Each filter: the rows it must show and those it must not, polled together (the list is replaced as a whole).
    const shows = async (inside: string[], outside: string[]) =>
      (await Promise.all(inside.map(async (p) => (await rowOf(page, p).count()) === 1))).every(Boolean) &&
      (await Promise.all(outside.map(async (p) => (await rowOf(page, p).count()) === 0))).every(Boolean);
    await page.selectOption('#f-state', 'human:phone');
    await expect.poll(() => shows([byPhone], [human, bot, failed])).toBe(true);
    await page.selectOption('#f-state', 'handoff_failed');
    await expect.poll(() => shows([failed], [bot, human, byPhone])).toBe(true);
    await page.selectOption('#f-state', 'human');
    await expect.poll(() => shows([human, byPhone], [bot, failed])).toBe(true);
    await page.selectOption('#f-state', '');
    await page.selectOption('#f-channel', 'vendas');
    await expect.poll(() => shows([bot, human], [failed, byPhone])).toBe(true);
    await page.selectOption('#f-channel', '');
    const only = async (phone: string) => (await page.locator('#rows tr').count()) === 1 && (await rowOf(page, phone).count()) === 1;
    await page.fill('#f-q', 'helena hum');
    await expect.poll(() => only(human)).toBe(true);
    await page.fill('#f-q', bot);
    await expect.poll(() => only(bot)).toBe(true);
  });

  it('a failed handoff’s timeline shows its error; retry through the UI, confirmed, then checked through the API', async () => {
    const phone = newPhone();
    h.brpex.inject('dispatch', { status: 422, body: { message: 'departamento inválido' } });
    const handed = await says('loja', phone, 'quero um atendente', 'Rita Retry');
    const id = handed.body.handoffId as string;
    await h.settled(id);
    const page = await open();
    await rowOf(page, phone).getByRole('button').click();
    await expect.poll(() => page.locator('#timeline li.failed').first().textContent()).toContain('departamento inválido');
    expect(await page.locator('#timeline li').first().textContent()).toContain('quero um atendente');
    page.once('dialog', () => problems.push('a native dialog opened'));
    await page.getByRole('button', { name: 'Retry the failed handoff' }).click();
    await expect.poll(() => page.locator('#confirm').getAttribute('open')).not.toBeNull();
    await page.locator('#confirm-ok').click();
    await expect.poll(() => page.locator('#action-result').textContent()).toContain('pending again');
    const record = await waitUntil(() => api(`/admin/handoffs/${id}`), { what: 'the retried handoff done', done: (r) => r.state === 'done' });
    expect(record.state).toBe('done');
  });

  it('gives a conversation back to the bot through the UI (keyboard only), checked through the API', async () => {
    const phone = newPhone();
    h.mehub.addChat({ phone, name: 'Gil', lastMessage: 'oi' });
    const handed = await says('vendas', phone, 'quero um atendente', 'Gil Devolvido');
    await h.settled(handed.body.handoffId as string);
    const page = await open();
    await rowOf(page, phone).getByRole('button').focus();
    await page.keyboard.press('Enter');
    const release = page.getByRole('button', { name: 'Give back to the bot' });
    await expect.poll(() => release.isEnabled()).toBe(true);
    // Cancelled: nothing happens.
    await release.focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('#confirm').getAttribute('open')).not.toBeNull();
    await page.locator('#confirm').getByRole('button', { name: 'Cancel' }).focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('#confirm').getAttribute('open')).toBeNull();
    expect((await api(`/admin/conversations/vendas/${phone}`)).state).toBe('human');
    // Confirmed: back to the bot.
    await release.focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('#confirm-ok').evaluate((b) => b === (globalThis as unknown as PageGlobals).document.activeElement)).toBe(true);
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('#action-result').textContent()).toContain('with the bot');
    expect((await api(`/admin/conversations/vendas/${phone}`)).state).toBe('bot');
    await expect.poll(() => page.locator('#timeline li').last().textContent()).toContain('Given back to the bot');
    await expect.poll(() => release.isDisabled()).toBe(true);
  });

  it('updates by itself: a new conversation appears and a state changes within 5 s, without a reload', async () => {
    const page = await open();
    await page.evaluate(() => {
      (globalThis as unknown as PageGlobals).__marker = 42;
    });
    const phone = newPhone();
    await says('loja', phone, 'oi', 'Lívia Live');
    await expect.poll(() => rowOf(page, phone).count(), { timeout: 5_000 }).toBe(1);
    await says('loja', phone, 'quero um atendente', 'Lívia Live');
    await expect.poll(() => rowOf(page, phone).locator('.badge').textContent(), { timeout: 5_000 }).not.toBe('bot');
    expect(await page.evaluate(() => (globalThis as unknown as PageGlobals).__marker)).toBe(42);
  });

  it('a customer name with markup is shown as text and runs nothing', async () => {
    const phone = newPhone();
    await says('vendas', phone, `<script>window.__pwned=3</script> oi`, XSS_NAME);
    const page = await open();
    await expect.poll(() => rowOf(page, phone).count()).toBe(1);
    expect(await rowOf(page, phone).getByRole('button').textContent()).toBe(XSS_NAME);
    await rowOf(page, phone).getByRole('button').click();
    await expect.poll(() => page.locator('#timeline li').first().textContent()).toContain('<script>window.__pwned=3</script>');
    expect(await page.evaluate(() => (globalThis as unknown as PageGlobals).__pwned)).toBeUndefined();
    expect(await page.locator('#rows img, #timeline img, #detail script, #rows script').count()).toBe(0);
  });

  it('401 without the token: the page asks for it once, then works', async () => {
    const anonymous = await fetch(`${h.url}/admin/console`);
    expect(anonymous.status).toBe(401);
    const page = await open({ credentials: false });
    await expect.poll(() => page.locator('#login').isVisible()).toBe(true);
    await page.fill('#token', 'wrong-token');
    await page.click('#login-form button');
    await expect.poll(() => page.locator('#login-error').textContent()).toContain('not accepted');
    await page.fill('#token', ADMIN);
    await page.click('#login-form button');
    await expect.poll(() => page.locator('#app').isVisible()).toBe(true);
    expect(page.url()).not.toContain(ADMIN);
    await expect.poll(() => page.locator('#rows tr').count()).toBeGreaterThan(0);
  });

  it('is readable on a phone-sized screen: no horizontal scrolling, every row labelled', async () => {
    const phone = newPhone();
    await says('vendas', phone, 'oi', 'Paula Pequena');
    const page = await open({ viewport: { width: 390, height: 844 } });
    await expect.poll(() => rowOf(page, phone).count()).toBe(1);
    expect(await page.evaluate(() => { const g = globalThis as unknown as PageGlobals; return g.document.documentElement.scrollWidth <= g.innerWidth; })).toBe(true);
    expect(await rowOf(page, phone).locator('td[data-label="State"]').count()).toBe(1);
    if (process.env.CONSOLE_SCREENSHOT) {
      const wide = await open();
      await rowOf(wide, phone).getByRole('button').click();
      await expect.poll(() => wide.locator('#timeline li').count()).toBeGreaterThan(0);
      await wide.screenshot({ path: process.env.CONSOLE_SCREENSHOT });
    }
  });
});
