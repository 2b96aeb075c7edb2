// The emulator's demo chat client. It talks to the emulator exactly as a Webex client talks to
// Webex: REST calls under /v1 with the chosen user's Bearer token. Only the list of demo users
// and their tokens comes from the loopback-only control API (GET /_sim/people).
'use strict';

const POLL_MS = 500;

const state = {
  people: [], // everyone, with tokens
  byId: new Map(),
  me: null, // the chosen person
  conv: null, // { kind: 'direct', email, title } or { kind: 'group', roomId, title }
  roomId: null, // the open conversation's room (a DM has none until its first message)
  generation: 0, // bumps on every switch so stale polls are ignored
  shown: '', // ids of the rendered messages, to skip identical re-renders
};

const $ = (id) => document.getElementById(id);

function setStatus(text, isError) {
  const el = $('status');
  el.textContent = text || '';
  el.classList.toggle('error', Boolean(isError));
  el.setAttribute('role', isError ? 'alert' : 'status');
}

async function api(method, path, body) {
  const headers = { Authorization: 'Bearer ' + state.me.token };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch('/v1' + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch (_) {
    data = null;
  }
  if (!res.ok) {
    const why = (data && data.message) || res.statusText || 'request failed';
    throw new Error(method + ' ' + path.split('?')[0] + ': ' + res.status + ' ' + why);
  }
  return data;
}

async function loadPeople() {
  const res = await fetch('/_sim/people');
  if (!res.ok) throw new Error('cannot list the demo users (' + res.status + ')');
  const data = await res.json();
  state.people = data.items || [];
  state.byId = new Map(state.people.map((p) => [p.id, p]));
  const select = $('user');
  for (const p of state.people.filter((p) => p.type !== 'bot')) {
    const opt = document.createElement('option');
    opt.value = p.emails[0];
    opt.textContent = p.displayName;
    opt.title = p.emails[0];
    select.appendChild(opt);
  }
}

function bots() {
  return state.people.filter((p) => p.type === 'bot');
}

async function chooseUser(email) {
  closeConversation();
  state.me = state.people.find((p) => p.emails[0] === email) || null;
  const list = $('conversations');
  list.replaceChildren();
  if (!state.me) {
    list.appendChild(emptyItem('Choose a user first.'));
    return;
  }
  const entries = bots().map((b) => ({
    kind: 'direct',
    email: b.emails[0],
    title: b.displayName,
    label: 'Direct message',
  }));
  try {
    const rooms = await api('GET', '/rooms?type=group&sortBy=lastactivity&max=100');
    for (const r of rooms.items || []) {
      entries.push({ kind: 'group', roomId: r.id, title: r.title, label: 'Space' });
    }
  } catch (e) {
    setStatus(e.message, true);
  }
  if (entries.length === 0) list.appendChild(emptyItem('No conversations.'));
  for (const c of entries) {
    const li = document.createElement('li');
    const btn = document.createElement('button');
    btn.type = 'button';
    btn.className = 'conv';
    btn.dataset.kind = c.kind;
    if (c.roomId) btn.dataset.roomId = c.roomId;
    if (c.email) btn.dataset.email = c.email;
    const name = document.createElement('span');
    name.textContent = c.title;
    const kind = document.createElement('span');
    kind.className = 'kind';
    kind.textContent = c.label;
    btn.append(name, kind);
    btn.addEventListener('click', () => openConversation(c, btn));
    li.appendChild(btn);
    list.appendChild(li);
  }
  setStatus('Signed in as ' + state.me.displayName + '.');
}

function emptyItem(text) {
  const li = document.createElement('li');
  li.className = 'empty';
  li.textContent = text;
  return li;
}

function closeConversation() {
  state.generation += 1;
  state.conv = null;
  state.roomId = null;
  state.shown = '';
  $('messages').replaceChildren();
  $('chat-title').textContent = 'No conversation open';
  $('text').disabled = true;
  $('send').disabled = true;
}

function openConversation(conv, button) {
  closeConversation();
  for (const b of document.querySelectorAll('#conversations button')) {
    b.setAttribute('aria-current', String(b === button));
  }
  state.conv = conv;
  state.roomId = conv.roomId || null;
  $('chat-title').textContent =
    conv.kind === 'direct' ? conv.title + ' (direct message)' : conv.title + ' (space)';
  $('text').disabled = false;
  $('send').disabled = false;
  $('text').focus();
  poll(state.generation);
}

async function fetchMessages() {
  if (state.roomId) {
    return (await api('GET', '/messages?roomId=' + encodeURIComponent(state.roomId) + '&max=100'))
      .items || [];
  }
  // No room yet: a DM's room appears with its first message.
  const data = await api(
    'GET',
    '/messages/direct?personEmail=' + encodeURIComponent(state.conv.email),
  );
  const items = data.items || [];
  if (items.length > 0) state.roomId = items[0].roomId;
  return items;
}

async function poll(generation) {
  if (generation !== state.generation || !state.conv) return;
  try {
    const items = await fetchMessages();
    if (generation === state.generation) render(items.slice().reverse());
  } catch (e) {
    if (generation === state.generation) setStatus(e.message, true);
  }
  if (generation === state.generation) {
    setTimeout(() => poll(generation), POLL_MS);
  }
}

function render(messages) {
  const key = messages.map((m) => m.id + (m.updated || '')).join(',');
  if (key === state.shown) return;
  state.shown = key;
  const log = $('messages');
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  log.replaceChildren(...messages.map(messageItem));
  if (atBottom) log.scrollTop = log.scrollHeight;
}

function messageItem(m) {
  const author = state.byId.get(m.personId);
  const li = document.createElement('li');
  li.className = 'msg';
  if (state.me && m.personId === state.me.id) li.classList.add('mine');
  if (author && author.type === 'bot') li.classList.add('bot');
  li.dataset.authorEmail = m.personEmail || '';
  const meta = document.createElement('div');
  meta.className = 'meta';
  const who = document.createElement('span');
  who.className = 'author';
  who.textContent = author ? author.displayName : m.personEmail || 'Unknown';
  const when = document.createElement('time');
  when.dateTime = m.created;
  when.textContent = new Date(m.created).toLocaleTimeString();
  meta.append(who, when);
  const text = document.createElement('p');
  text.className = 'msg-text';
  const segments = m.markdown ? mentionSegments(m.markdown) : null;
  if (segments) text.append(...segments);
  else text.textContent = m.text || m.markdown || (m.files ? '(file)' : '');
  li.append(meta, text);
  return li;
}

const MENTION = /<@(personEmail|personId|all)(?::([^|>]*))?(?:\|([^>]*))?>/g;

// A message whose markdown mentions someone: its text with each mention as a highlighted
// "@Name". Null when there is no mention (the plain `text` is shown then).
function mentionSegments(markdown) {
  const parts = [];
  let last = 0;
  for (const match of markdown.matchAll(MENTION)) {
    if (match.index > last) parts.push(document.createTextNode(markdown.slice(last, match.index)));
    const who = match[1] === 'all' ? 'All' : match[3] || nameOf(match[1], match[2]);
    const span = document.createElement('span');
    span.className = 'mention';
    span.textContent = '@' + who;
    parts.push(span);
    last = match.index + match[0].length;
  }
  if (parts.length === 0) return null;
  if (last < markdown.length) parts.push(document.createTextNode(markdown.slice(last)));
  return parts;
}

function nameOf(kind, value) {
  const p =
    kind === 'personId'
      ? state.byId.get(value)
      : state.people.find((x) => x.emails[0] === (value || '').toLowerCase());
  return p ? p.displayName : value || 'someone';
}

// "@Molty rest" at the start of a space message becomes a Webex mention of that bot.
function toMarkdown(text) {
  if (state.conv.kind !== 'group' || !text.startsWith('@')) return text;
  const lower = text.toLowerCase();
  for (const b of bots()) {
    const tag = '@' + b.displayName.toLowerCase();
    const next = text.charAt(tag.length);
    if (lower.startsWith(tag) && (next === '' || /[\s,:;.!?]/.test(next))) {
      return '<@personEmail:' + b.emails[0] + '|' + b.displayName + '>' + text.slice(tag.length);
    }
  }
  return text;
}

async function send(event) {
  event.preventDefault();
  const input = $('text');
  const text = input.value.trim();
  if (!text || !state.conv) return;
  const body = { markdown: toMarkdown(text) };
  if (state.roomId) body.roomId = state.roomId;
  else body.toPersonEmail = state.conv.email;
  const generation = state.generation;
  $('send').disabled = true;
  try {
    const sent = await api('POST', '/messages', body);
    if (generation === state.generation && !state.roomId && sent && sent.roomId) {
      state.roomId = sent.roomId;
    }
    input.value = '';
    setStatus('Sent.');
  } catch (e) {
    setStatus(e.message, true);
  } finally {
    $('send').disabled = !state.conv;
    input.focus();
  }
}

async function start() {
  $('user').addEventListener('change', (e) => chooseUser(e.target.value));
  $('who').addEventListener('submit', (e) => e.preventDefault());
  $('composer').addEventListener('submit', send);
  try {
    await loadPeople();
    document.body.dataset.ready = 'true';
  } catch (e) {
    setStatus(e.message, true);
  }
}

start();
