// The operator console (SPEC §14). Plain DOM, no framework, no build step: every text a
// customer can write reaches the page through textContent only (never innerHTML).
const TOKEN_KEY = 'handoff-console-token';
const REFRESH_MS = 3000;

const $ = (id) => document.getElementById(id);
const state = { token: sessionStorage.getItem(TOKEN_KEY), selected: null, next: null, filters: { channel: '', state: '', q: '' }, timer: null, busy: false, listSeq: 0, names: new Map() };

const STATE_LABELS = { bot: 'bot', handoff_pending: 'handoff pending', human: 'human', handoff_failed: 'handoff failed' };

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === 'class') node.className = value;
    else if (key.startsWith('aria-') || key.startsWith('data-') || key === 'role' || key === 'scope') node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

class Unauthorized extends Error {}

async function api(path, options = {}) {
  const headers = { accept: 'application/json', ...(options.body ? { 'content-type': 'application/json' } : {}) };
  if (state.token) headers.authorization = `Bearer ${state.token}`;
  const res = await fetch(path, { ...options, headers, credentials: 'same-origin', cache: 'no-store' });
  if (res.status === 401) throw new Unauthorized();
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.message || body.error || `HTTP ${res.status}`);
  return body;
}

const when = (iso) => (iso ? new Date(iso).toLocaleString('pt-BR', { dateStyle: 'short', timeStyle: 'medium' }) : '–');
const enc = encodeURIComponent;

function showLogin(message) {
  clearInterval(state.timer);
  $('app').hidden = true;
  $('figures').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message || '';
  $('token').focus();
}

async function loadChannels() {
  const { channels } = await api('/admin/channels');
  const select = $('f-channel');
  for (const channel of channels) select.append(el('option', { value: channel.name }, `${channel.name} (${channel.kind})`));
}

async function loadFigures() {
  const f = await api('/admin/figures');
  $('fig-done').textContent = f.handoffs.done;
  $('fig-failed').textContent = f.handoffs.failed;
  $('fig-pending').textContent = f.handoffs.pending;
  const s = (v) => (v === null ? '–' : v < 60 ? `${Math.round(v)} s` : `${(v / 60).toFixed(1)} min`);
  $('fig-first').textContent = `${s(f.firstResponseSeconds.p50)} / ${s(f.firstResponseSeconds.p90)}`;
  $('fig-deliveries').textContent = f.deliveriesFailed;
  $('fig-since').textContent = `since ${when(f.since)}`;
  $('figures').hidden = false;
}

function listQuery(cursor) {
  const params = new URLSearchParams();
  const { channel, q } = state.filters;
  const [st, takenBy] = state.filters.state.split(':');
  if (channel) params.set('channel', channel);
  if (st) params.set('state', st);
  if (takenBy) params.set('takenBy', takenBy);
  if (q) params.set('q', q);
  if (cursor) params.set('cursor', cursor);
  return `/admin/conversations?${params}`;
}

function badge(conversation) {
  return el('span', { class: `badge ${conversation.state}` }, STATE_LABELS[conversation.state] || conversation.state);
}

function row(c) {
  const open = el('button', { type: 'button', class: 'link', 'aria-label': `Open the conversation of ${c.name || 'sem nome'} (${c.phone}) on ${c.channel}` }, c.name || 'sem nome');
  open.addEventListener('click', () => select({ channel: c.channel, phone: c.phone }));
  const tr = el(
    'tr',
    { class: state.selected && state.selected.channel === c.channel && state.selected.phone === c.phone ? 'selected' : '' },
    el('td', { 'data-label': 'Customer' }, open, el('span', { class: 'phone' }, c.phone)),
    el('td', { 'data-label': 'Channel' }, c.channel),
    el('td', { 'data-label': 'State' }, badge(c)),
    el('td', { 'data-label': 'Who has it' }, c.takenBy === 'phone' ? 'a person on the phone' : c.takenBy === 'handoff' ? `helpdesk${c.handoff ? ` (${c.handoff.provider})` : ''}` : 'the bot'),
    el('td', { 'data-label': 'Last activity' }, when(c.lastActivityAt)),
  );
  tr.dataset.key = `${c.channel}/${c.phone}`;
  return tr;
}

async function loadList(append = false) {
  // Only the newest request may fill the list (a refresh begun before a filter changed must not).
  const seq = ++state.listSeq;
  const page = await api(listQuery(append ? state.next : null));
  if (seq !== state.listSeq) return;
  const rows = $('rows');
  if (!append) rows.replaceChildren();
  for (const c of page.conversations) {
    state.names.set(`${c.channel}/${c.phone}`, c.name);
    rows.append(row(c));
  }
  state.next = page.next;
  $('more').hidden = !page.next;
  $('empty').hidden = rows.children.length > 0 || Boolean(page.next);
}

function describe(e) {
  switch (e.type) {
    case 'message': return [`Customer: `, e.text === null ? '(message without text)' : e.text];
    case 'reply': return ['Bot: ', e.text];
    case 'handoff': return [`Handoff to ${e.provider}${e.leg ? ` (leg ${e.leg + 1})` : ''}: ${e.state}`, e.attempts ? ` after ${e.attempts} tr${e.attempts === 1 ? 'y' : 'ies'}` : '', e.scheduledFor ? ` — scheduled for ${when(e.scheduledFor)}` : '', e.summary ? ` — ${e.summary}` : '', e.lastError ? ` — error: ${e.lastError}` : ''];
    case 'delivery': return [`Delivery ${e.state}`, e.status ? ` (WhatsApp: ${e.status})` : '', e.template ? ' as the window template' : '', e.lastError ? ` — error: ${e.lastError}` : ''];
    case 'release': return [`Given back to the bot (${e.cause})`];
    case 'takeover': return ['A person answered from the phone: the bot stays quiet'];
    case 'first_response': return ['First human response'];
    default: return [e.type];
  }
}

async function loadDetail() {
  if (!state.selected) return;
  const { channel, phone } = state.selected;
  const base = `/admin/conversations/${enc(channel)}/${enc(phone)}`;
  const [conversation, { events }] = await Promise.all([api(base), api(`${base}/timeline`)]);
  const name = state.names.get(`${channel}/${phone}`) || null;
  state.conversation = { ...conversation, name };
  $('detail').hidden = false;
  $('detail-title').textContent = `${name || phone} · ${channel}`;
  const aliases = (conversation.aliases || []).filter((a) => a !== phone);
  const handoff = conversation.handoff;
  $('detail-summary').replaceChildren(
    badge(conversation),
    ` ${phone}`,
    aliases.length ? ` · also ${aliases.join(', ')}` : '',
    handoff ? ` · handoff ${handoff.provider}: ${handoff.state}${handoff.lastError ? ` — ${handoff.lastError}` : ''}` : '',
  );
  $('act-release').disabled = conversation.state === 'bot';
  $('act-retry').disabled = !(handoff && handoff.state === 'failed');
  const list = $('timeline');
  list.replaceChildren(...events.map((e) => el('li', { class: `event ${e.type}${e.lastError || e.state === 'failed' ? ' failed' : ''}` }, el('time', { dateTime: e.at }, when(e.at)), ' ', el('span', {}, ...describe(e)))));
}

async function select(ref) {
  state.selected = ref;
  for (const tr of $('rows').children) tr.classList.toggle('selected', tr.dataset.key === `${ref.channel}/${ref.phone}`);
  $('action-result').textContent = '';
  await loadDetail().catch(report);
  $('detail-title').focus?.();
}

function confirmAction(text) {
  const dialog = $('confirm');
  $('confirm-text').textContent = text;
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
    dialog.showModal();
    $('confirm-ok').focus();
  });
}

async function act(kind) {
  const c = state.conversation;
  if (!c) return;
  const release = kind === 'release';
  const question = release ? `Give ${c.name || c.phone} (${c.channel}) back to the bot?` : `Retry the failed handoff of ${c.name || c.phone} to ${c.handoff.provider}?`;
  if (!(await confirmAction(question))) return;
  const result = $('action-result');
  try {
    if (release) await api(`/admin/conversations/${enc(c.channel)}/${enc(c.phone)}/release`, { method: 'POST', body: '{}' });
    else await api(`/admin/handoffs/${enc(c.handoff.id)}/retry`, { method: 'POST', body: '{}' });
    result.textContent = release ? 'Done: the conversation is with the bot.' : 'Done: the handoff is pending again.';
    result.className = 'ok';
  } catch (error) {
    result.textContent = `Failed: ${error.message}`;
    result.className = 'error';
  }
  await refresh();
}

function report(error) {
  if (error instanceof Unauthorized) showLogin(state.token ? 'That token was not accepted.' : '');
  else $('live').textContent = `Could not refresh: ${error.message}`;
}

async function refresh() {
  if (state.busy) return;
  state.busy = true;
  try {
    await Promise.all([loadFigures(), loadList(), loadDetail()]);
    $('live').textContent = '';
  } catch (error) {
    report(error);
  } finally {
    state.busy = false;
  }
}

async function start() {
  try {
    await loadChannels();
  } catch (error) {
    if (error instanceof Unauthorized) return showLogin(state.token ? 'That token was not accepted.' : '');
    throw error;
  }
  $('login').hidden = true;
  $('app').hidden = false;
  await refresh();
  clearInterval(state.timer);
  state.timer = setInterval(refresh, REFRESH_MS);
}

function wire() {
  $('login-form').addEventListener('submit', (event) => {
    event.preventDefault();
    state.token = $('token').value.trim();
    $('token').value = '';
    sessionStorage.setItem(TOKEN_KEY, state.token);
    start().catch(report);
  });
  let typing;
  $('filters').addEventListener('input', (event) => {
    state.filters = { channel: $('f-channel').value, state: $('f-state').value, q: $('f-q').value.trim() };
    clearTimeout(typing);
    typing = setTimeout(() => loadList().catch(report), event.target.id === 'f-q' ? 250 : 0);
  });
  $('filters').addEventListener('submit', (event) => event.preventDefault());
  $('more').addEventListener('click', () => loadList(true).catch(report));
  $('act-release').addEventListener('click', () => act('release'));
  $('act-retry').addEventListener('click', () => act('retry'));
  $('detail-title').tabIndex = -1;
}

wire();
start().catch(report);
