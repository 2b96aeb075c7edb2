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
  nodes: new Map(), // message id -> { key, li }: unchanged messages keep their node (and inputs)
  seen: new Map(), // message id -> message, everything shown in this conversation
  deleted: new Map(), // message id -> the message as last seen, once it is gone
  files: new Map(), // content URL -> { state, name, size, type, href, retryAt }
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
  const form = body instanceof FormData;
  if (body !== undefined && !form) headers['Content-Type'] = 'application/json';
  const res = await fetch('/v1' + path, {
    method,
    headers,
    // A FormData body goes as multipart/form-data (the browser sets the boundary).
    body: body === undefined ? undefined : form ? body : JSON.stringify(body),
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
  state.nodes = new Map();
  state.seen = new Map();
  state.deleted = new Map();
  $('messages').replaceChildren();
  $('chat-title').textContent = 'No conversation open';
  $('text').disabled = true;
  $('file').disabled = true;
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
  $('file').disabled = false;
  $('send').disabled = false;
  $('text').focus();
  poll(state.generation);
}

async function fetchMessages() {
  if (!state.roomId) {
    // No room yet: a DM's room appears with its first message. The direct listing leaves out
    // html and cards (Webex's DirectMessage schema), so the room's own listing is read instead.
    const data = await api(
      'GET',
      '/messages/direct?personEmail=' + encodeURIComponent(state.conv.email),
    );
    const items = data.items || [];
    if (items.length === 0) return [];
    state.roomId = items[0].roomId;
  }
  return (await api('GET', '/messages?roomId=' + encodeURIComponent(state.roomId) + '&max=100'))
    .items || [];
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

// Messages that were shown and are no longer listed were deleted (unless they only fell out of
// the listed window): they stay in place as a "Message deleted" line.
function noteDeletions(messages) {
  const listed = new Set(messages.map((m) => m.id));
  const oldest = messages.length > 0 ? messages[0].created : null;
  for (const [id, m] of state.seen) {
    if (!listed.has(id) && !state.deleted.has(id) && (oldest === null || m.created >= oldest)) {
      state.deleted.set(id, m);
    }
  }
  for (const m of messages) state.seen.set(m.id, m);
}

function render(messages) {
  noteDeletions(messages);
  const all = messages.concat(Array.from(state.deleted.values()).map((m) => ({ ...m, deleted: true })));
  all.sort((a, b) => (a.created < b.created ? -1 : a.created > b.created ? 1 : 0));
  const key = all.map((m) => m.id + (m.updated || '') + (m.deleted ? 'x' : '')).join(',');
  if (key === state.shown) return;
  state.shown = key;
  const log = $('messages');
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  const nodes = new Map();
  const items = all.map((m) => {
    const itemKey = (m.updated || m.created) + (m.deleted ? ':deleted' : '');
    const old = state.nodes.get(m.id);
    const li = old && old.key === itemKey ? old.li : messageItem(m);
    nodes.set(m.id, { key: itemKey, li });
    return li;
  });
  state.nodes = nodes;
  log.replaceChildren(...items);
  if (atBottom) log.scrollTop = log.scrollHeight;
}

function messageItem(m) {
  const author = state.byId.get(m.personId);
  const li = document.createElement('li');
  li.className = 'msg';
  li.dataset.id = m.id;
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
  li.appendChild(meta);
  if (m.deleted) {
    li.classList.add('deleted');
    const gone = document.createElement('p');
    gone.className = 'msg-text';
    gone.textContent = 'Message deleted';
    li.appendChild(gone);
    return li;
  }
  if (m.updated) {
    li.classList.add('edited');
    const edited = document.createElement('span');
    edited.className = 'edited-mark';
    edited.textContent = 'edited';
    edited.title = 'Edited ' + new Date(m.updated).toLocaleTimeString();
    meta.appendChild(edited);
  }
  const card = (m.attachments || []).find(
    (a) => a && a.contentType === 'application/vnd.microsoft.card.adaptive' && a.content,
  );
  const hasText = Boolean(m.html || m.markdown || m.text);
  if (hasText && !card) li.appendChild(messageText(m));
  if (card) li.appendChild(renderCard(card.content, m));
  if (m.files && m.files.length > 0) {
    const list = document.createElement('ul');
    list.className = 'files';
    for (const url of m.files) list.appendChild(fileItem(url));
    li.appendChild(list);
  }
  return li;
}

function messageText(m) {
  const text = document.createElement('div');
  text.className = 'msg-text';
  if (m.html) {
    text.append(...safeHtml(m.html));
  } else {
    const segments = m.markdown ? mentionSegments(m.markdown) : null;
    if (segments) text.append(...segments);
    else text.textContent = m.text || m.markdown || '';
  }
  return text;
}

// ---- html from the emulator, rebuilt from an allowlist (never assigned as innerHTML) ---------

const BLOCK_TAGS = new Set([
  'P', 'UL', 'OL', 'LI', 'BLOCKQUOTE', 'PRE', 'H1', 'H2', 'H3', 'H4', 'H5', 'H6', 'HR', 'BR',
]);
const INLINE_TAGS = new Set(['STRONG', 'B', 'EM', 'I', 'CODE', 'DEL', 'S']);

function safeUrl(href) {
  return /^(https?:|mailto:)/i.test((href || '').trim());
}

function safeHtml(html) {
  const doc = new DOMParser().parseFromString(html, 'text/html');
  return Array.from(doc.body.childNodes).map(cleanNode).filter(Boolean);
}

function cleanNode(node) {
  if (node.nodeType === Node.TEXT_NODE) return document.createTextNode(node.textContent);
  if (node.nodeType !== Node.ELEMENT_NODE) return null;
  const tag = node.tagName;
  if (tag === 'SPARK-MENTION') {
    const span = document.createElement('span');
    span.className = 'mention';
    span.textContent = '@' + node.textContent;
    return span;
  }
  let el;
  if (tag === 'A' && safeUrl(node.getAttribute('href'))) {
    el = document.createElement('a');
    el.href = node.getAttribute('href');
    el.rel = 'nofollow noopener noreferrer';
    el.target = '_blank';
  } else if (BLOCK_TAGS.has(tag) || INLINE_TAGS.has(tag)) {
    el = document.createElement(tag.toLowerCase());
  } else {
    el = document.createDocumentFragment();
  }
  for (const child of node.childNodes) {
    const clean = cleanNode(child);
    if (clean) el.appendChild(clean);
  }
  return el;
}

// ---- files: fetched with the user's token, offered as a download link ----------------------

function fileItem(url) {
  const li = document.createElement('li');
  li.className = 'file';
  li.dataset.url = url;
  paintFile(li, url);
  loadFile(url);
  return li;
}

function paintFile(li, url) {
  const f = state.files.get(url) || { state: 'loading' };
  li.dataset.state = f.state;
  const size = f.size !== undefined ? ' (' + formatSize(f.size) + ')' : '';
  if (f.state === 'ready') {
    const a = document.createElement('a');
    a.className = 'file-link';
    a.href = f.href;
    a.download = f.name;
    a.textContent = f.name + size;
    const parts = [a];
    if (f.type && f.type.startsWith('image/')) {
      const img = document.createElement('img');
      img.className = 'preview';
      img.src = f.href;
      img.alt = f.name;
      parts.push(img);
    }
    li.replaceChildren(...parts);
    return;
  }
  const label = {
    loading: 'File: loading…',
    scanning: 'File: being scanned for malware, retrying…',
    infected: 'File blocked: it is infected or not allowed (410).',
    external: 'File: ',
    failed: 'File could not be downloaded: ' + (f.reason || ''),
  }[f.state];
  if (f.state === 'unscannable') {
    const text = document.createElement('span');
    text.textContent = 'File could not be scanned for malware (428). ';
    const force = document.createElement('button');
    force.type = 'button';
    force.className = 'force-download';
    force.textContent = 'Download anyway';
    force.addEventListener('click', () => {
      state.files.set(url, { state: 'loading' });
      loadFile(url, true);
    });
    li.replaceChildren(text, force);
    return;
  }
  if (f.state === 'external') {
    const a = document.createElement('a');
    a.className = 'file-link';
    a.href = url;
    a.rel = 'nofollow noopener noreferrer';
    a.target = '_blank';
    a.textContent = url;
    li.replaceChildren(document.createTextNode(label), a);
    return;
  }
  li.textContent = label || 'File';
}

function repaintFile(url) {
  for (const li of document.querySelectorAll('li.file')) {
    if (li.dataset.url === url) paintFile(li, url);
  }
}

function formatSize(n) {
  if (n < 1024) return n + ' B';
  if (n < 1024 * 1024) return (n / 1024).toFixed(1) + ' KB';
  return (n / 1024 / 1024).toFixed(1) + ' MB';
}

// The file name of a `Content-Disposition` value (`filename*=UTF-8''..` first).
function dispositionName(value) {
  if (!value) return null;
  const ext = /filename\*\s*=\s*UTF-8''([^;]+)/i.exec(value);
  if (ext) {
    try {
      return decodeURIComponent(ext[1].trim());
    } catch (_) {
      // fall through to the plain name
    }
  }
  const plain = /filename\s*=\s*"((?:[^"\\]|\\.)*)"|filename\s*=\s*([^;]+)/i.exec(value);
  if (!plain) return null;
  return plain[1] !== undefined ? plain[1].replace(/\\(.)/g, '$1') : plain[2].trim();
}

async function loadFile(url, allowUnscannable) {
  const known = state.files.get(url);
  if (known && known.state !== 'loading' && !allowUnscannable) return;
  if (known && known.busy) return;
  if (!url.startsWith(location.origin + '/v1/contents/')) {
    // A public URL sent as JSON `files`: the emulator records it and fetches nothing.
    state.files.set(url, { state: 'external' });
    repaintFile(url);
    return;
  }
  state.files.set(url, { state: 'loading', busy: true });
  let next;
  try {
    const res = await fetch(url + (allowUnscannable ? '?allow=unscannable' : ''), {
      headers: { Authorization: 'Bearer ' + state.me.token },
    });
    if (res.ok) {
      const blob = await res.blob();
      next = {
        state: 'ready',
        name: dispositionName(res.headers.get('Content-Disposition')) || 'file',
        size: blob.size,
        type: res.headers.get('Content-Type') || '',
        href: URL.createObjectURL(blob),
      };
    } else if (res.status === 423) {
      const wait = Math.min(Math.max(Number(res.headers.get('Retry-After')) || 1, 1), 30);
      next = { state: 'scanning' };
      setTimeout(() => {
        state.files.set(url, { state: 'loading' });
        loadFile(url, allowUnscannable);
      }, wait * 1000);
    } else if (res.status === 410) {
      next = { state: 'infected' };
    } else if (res.status === 428) {
      next = { state: 'unscannable' };
    } else {
      next = { state: 'failed', reason: String(res.status) };
    }
  } catch (e) {
    next = { state: 'failed', reason: e.message };
  }
  state.files.set(url, next);
  repaintFile(url);
}

// ---- adaptive cards: text, inputs and Action.Submit buttons --------------------------------

function renderCard(card, message) {
  const box = document.createElement('div');
  box.className = 'card';
  const inputs = [];
  for (const el of card.body || []) appendCardElement(box, el, inputs);
  const actions = (card.actions || []).filter((a) => a && typeof a === 'object');
  if (actions.length > 0) {
    const bar = document.createElement('div');
    bar.className = 'card-actions';
    for (const action of actions) {
      if (action.type === 'Action.Submit') {
        const btn = document.createElement('button');
        btn.type = 'button';
        btn.className = 'card-submit';
        btn.textContent = action.title || 'Submit';
        btn.addEventListener('click', () => submitCard(message, action, inputs, btn));
        bar.appendChild(btn);
      } else if (action.type === 'Action.OpenUrl' && safeUrl(action.url)) {
        const a = document.createElement('a');
        a.href = action.url;
        a.rel = 'nofollow noopener noreferrer';
        a.target = '_blank';
        a.textContent = action.title || action.url;
        bar.appendChild(a);
      }
    }
    box.appendChild(bar);
  }
  return box;
}

function appendCardElement(parent, el, inputs) {
  if (!el || typeof el !== 'object') return;
  const text = (s) => (typeof s === 'string' ? s : '');
  switch (el.type) {
    case 'TextBlock':
    case 'RichTextBlock': {
      const p = document.createElement('p');
      p.className = 'card-text';
      if (el.weight === 'bolder' || el.size === 'large' || el.size === 'extraLarge') {
        p.classList.add('card-strong');
      }
      p.textContent =
        el.type === 'TextBlock'
          ? text(el.text)
          : (el.inlines || []).map((i) => (typeof i === 'string' ? i : text(i.text))).join('');
      parent.appendChild(p);
      return;
    }
    case 'FactSet': {
      const dl = document.createElement('dl');
      dl.className = 'card-facts';
      for (const f of el.facts || []) {
        const dt = document.createElement('dt');
        dt.textContent = text(f.title);
        const dd = document.createElement('dd');
        dd.textContent = text(f.value);
        dl.append(dt, dd);
      }
      parent.appendChild(dl);
      return;
    }
    case 'Container':
      for (const item of el.items || []) appendCardElement(parent, item, inputs);
      return;
    case 'ColumnSet':
      for (const column of el.columns || []) {
        for (const item of column.items || []) appendCardElement(parent, item, inputs);
      }
      return;
    case 'Image':
      if (el.altText) {
        const p = document.createElement('p');
        p.className = 'card-text';
        p.textContent = '[image: ' + text(el.altText) + ']';
        parent.appendChild(p);
      }
      return;
    default:
      if (typeof el.type === 'string' && el.type.startsWith('Input.') && el.id) {
        parent.appendChild(cardInput(el, inputs));
      }
  }
}

function cardInput(el, inputs) {
  const wrap = document.createElement('div');
  wrap.className = 'card-input';
  const id = 'card-' + Math.random().toString(36).slice(2);
  const label = document.createElement('label');
  label.htmlFor = id;
  label.textContent = el.label || el.title || el.placeholder || el.id;
  let control;
  let read;
  if (el.type === 'Input.ChoiceSet' && el.isMultiSelect) {
    control = document.createElement('fieldset');
    control.id = id;
    const defaults = String(el.value || '').split(',');
    for (const choice of el.choices || []) {
      const row = document.createElement('label');
      const box = document.createElement('input');
      box.type = 'checkbox';
      box.value = String(choice.value);
      box.checked = defaults.includes(box.value);
      row.append(box, document.createTextNode(' ' + (choice.title || choice.value)));
      control.appendChild(row);
    }
    read = () =>
      Array.from(control.querySelectorAll('input:checked'))
        .map((b) => b.value)
        .join(',');
  } else if (el.type === 'Input.ChoiceSet') {
    control = document.createElement('select');
    if (!el.value) control.appendChild(new Option(el.placeholder || 'Choose…', ''));
    for (const choice of el.choices || []) {
      control.appendChild(new Option(choice.title || choice.value, String(choice.value)));
    }
    if (el.value) control.value = String(el.value);
    read = () => control.value;
  } else if (el.type === 'Input.Toggle') {
    control = document.createElement('input');
    control.type = 'checkbox';
    const on = el.valueOn === undefined ? 'true' : String(el.valueOn);
    const off = el.valueOff === undefined ? 'false' : String(el.valueOff);
    control.checked = String(el.value) === on;
    read = () => (control.checked ? on : off);
  } else {
    const types = { 'Input.Number': 'number', 'Input.Date': 'date', 'Input.Time': 'time' };
    control = el.isMultiline ? document.createElement('textarea') : document.createElement('input');
    if (!el.isMultiline) control.type = types[el.type] || 'text';
    if (el.placeholder) control.placeholder = el.placeholder;
    if (el.value !== undefined) control.value = String(el.value);
    read = () => control.value;
  }
  control.id = id;
  control.name = el.id;
  control.classList.add('card-field');
  inputs.push({ id: el.id, read });
  wrap.append(label, control);
  return wrap;
}

// Action.Submit: the inputs' values and the action's `data` go to POST /attachment/actions as this
// user, as a Webex client does (the card's author gets an attachmentActions webhook).
async function submitCard(message, action, inputs, button) {
  const values = {};
  for (const input of inputs) values[input.id] = input.read();
  if (action.data && typeof action.data === 'object' && !Array.isArray(action.data)) {
    Object.assign(values, action.data);
  }
  button.disabled = true;
  try {
    await api('POST', '/attachment/actions', {
      type: 'submit',
      messageId: message.id,
      inputs: values,
    });
    button.closest('.card').dataset.submitted = 'true';
    setStatus('Card submitted.');
  } catch (e) {
    setStatus(e.message, true);
  } finally {
    button.disabled = false;
  }
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
  const fileInput = $('file');
  const text = input.value.trim();
  const file = fileInput.files && fileInput.files[0];
  if ((!text && !file) || !state.conv) return;
  let body;
  if (file) {
    // A local file goes as multipart/form-data with one `files` part, as Webex documents.
    body = new FormData();
    if (state.roomId) body.append('roomId', state.roomId);
    else body.append('toPersonEmail', state.conv.email);
    if (text) body.append('markdown', toMarkdown(text));
    body.append('files', file, file.name);
  } else {
    body = { markdown: toMarkdown(text) };
    if (state.roomId) body.roomId = state.roomId;
    else body.toPersonEmail = state.conv.email;
  }
  const generation = state.generation;
  $('send').disabled = true;
  try {
    const sent = await api('POST', '/messages', body);
    if (generation === state.generation && !state.roomId && sent && sent.roomId) {
      state.roomId = sent.roomId;
    }
    input.value = '';
    fileInput.value = '';
    setStatus(file ? 'Sent ' + file.name + '.' : 'Sent.');
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
