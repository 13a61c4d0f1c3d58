// otpd staging console. Credentials live in this closure only (no cookie, no storage) and go
// out as an Authorization header on same-origin fetches; the page polls for new messages.
'use strict';
(() => {
  const POLL_MS = 500;
  const HIDDEN_POLL_MS = 5000;
  const LIMIT = 50;
  const $ = (id) => document.getElementById(id);

  let auth = null;
  let timer = null;
  let generation = 0;
  let loaded = false;
  let inflight = false;
  const items = new Map();

  function utf8Base64(text) {
    let bin = '';
    for (const b of new TextEncoder().encode(text)) bin += String.fromCharCode(b);
    return btoa(bin);
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') node.className = v;
      else node.setAttribute(k, v);
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c);
    return node;
  }

  function announce(text) {
    $('status').textContent = text;
  }

  // The filters as last applied: a poll never sends a number that is still being typed.
  let applied = { to: '', channel: '', project: '' };

  function applyFilters() {
    applied = {
      to: $('f-to').value.trim(),
      channel: $('f-channel').value,
      project: $('f-project').value.trim(),
    };
  }

  function query() {
    const p = new URLSearchParams({ limit: String(LIMIT) });
    if (applied.to) p.set('to', applied.to);
    if (applied.channel) p.set('channel', applied.channel);
    if (applied.project) p.set('project_id', applied.project);
    return 'api/messages?' + p.toString();
  }

  async function fetchMessages() {
    const res = await fetch(query(), {
      headers: { Authorization: auth, Accept: 'application/json' },
      cache: 'no-store',
      credentials: 'omit',
      referrerPolicy: 'no-referrer',
    });
    let body = null;
    try { body = await res.json(); } catch (_) { body = null; }
    return { status: res.status, body };
  }

  const CHANNELS = { sms: 'SMS', whatsapp: 'WhatsApp' };
  const ENCODINGS = { gsm7: 'GSM-7', ucs2: 'UCS-2' };

  function segmentText(m) {
    const unit = m.encoding === 'gsm7' ? 'characters' : 'UCS-2 characters';
    const count = m.segments === 1 ? '1 segment' : `${m.segments} segments`;
    return `${count}, ${ENCODINGS[m.encoding] || m.encoding}, ${m.units} of ${m.capacity} ${unit} used`;
  }

  function deliveryText(m) {
    if (!m.delivery) return 'not recorded yet';
    let text = m.delivery.status;
    if (m.delivery.error_code) text += ` (error ${m.delivery.error_code})`;
    if (m.delivery.receipt_at) text += `, receipt at ${new Date(m.delivery.receipt_at).toLocaleTimeString()}`;
    return text;
  }

  async function copyCode(code, button) {
    try {
      await navigator.clipboard.writeText(code);
      button.textContent = 'Copied';
      announce(`Code ${code} copied.`);
      setTimeout(() => { button.textContent = 'Copy'; }, 2000);
    } catch (_) {
      // No clipboard access (plain http on another host): select it for Ctrl+C instead.
      const target = button.parentElement.querySelector('.code-value');
      const range = document.createRange();
      range.selectNodeContents(target);
      const sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      announce('The browser refused the clipboard; the code is selected: press Ctrl+C or ⌘C.');
    }
  }

  function render(m) {
    const titleId = `m-${m.message_id}`;
    const channel = CHANNELS[m.channel] || m.channel;
    const when = new Date(m.created_at);
    const facts = el('dl', { class: 'facts' });
    const fact = (name, value) => {
      if (value === null || value === undefined || value === '') return;
      facts.append(el('dt', {}, name), el('dd', {}, value));
    };
    fact('Autofill line', m.autofill_line ? el('code', {}, m.autofill_line) : 'none');
    fact('Locale', m.locale || 'unknown');
    fact('Length', segmentText(m));
    const delivery = el('span', { class: 'delivery' }, deliveryText(m));
    fact('Delivery', delivery);
    fact('Project', `${m.project_name} (${m.project_id})`);
    let code = null;
    if (m.code) {
      const button = el('button', { type: 'button', class: 'copy', 'aria-label': `Copy code ${m.code}` }, 'Copy');
      button.addEventListener('click', () => copyCode(m.code, button));
      code = el('p', { class: 'code' }, el('span', { class: 'visually-hidden' }, 'Code: '),
        el('span', { class: 'code-value' }, m.code), button);
    }
    const li = el('li', { class: 'msg', 'data-id': m.message_id },
      el('article', { 'aria-labelledby': titleId },
        el('header', {},
          el('h3', { id: titleId }, `${channel} to ${m.to}`),
          el('time', { datetime: m.created_at }, when.toLocaleTimeString())),
        code,
        el('pre', { class: 'body', 'aria-label': 'Message text' }, m.body),
        facts));
    li._delivery = delivery;
    return li;
  }

  function show(messages) {
    const list = $('messages');
    const keep = new Set();
    const fresh = [];
    messages.forEach((m, i) => {
      keep.add(m.message_id);
      let li = items.get(m.message_id);
      if (li) {
        const text = deliveryText(m);
        if (li._delivery.textContent !== text) li._delivery.textContent = text;
      } else {
        li = render(m);
        items.set(m.message_id, li);
        // Inserted in place, never re-appended: a focused Copy button keeps its focus.
        list.insertBefore(li, list.children[i] || null);
        fresh.push(m);
      }
    });
    for (const [id, li] of items) {
      if (!keep.has(id)) { li.remove(); items.delete(id); }
    }
    $('empty').hidden = messages.length > 0;
    if (loaded && fresh.length) {
      const m = fresh[0];
      const extra = fresh.length > 1 ? ` and ${fresh.length - 1} more` : '';
      announce(`New ${CHANNELS[m.channel] || m.channel} to ${m.to}${m.code ? `, code ${m.code}` : ''}${extra}.`);
    }
    loaded = true;
  }

  function clearList() {
    items.clear();
    $('messages').replaceChildren();
    loaded = false;
  }

  async function poll() {
    // One request at a time; one that was overtaken by a filter change asks again.
    if (inflight || !auth) return;
    inflight = true;
    const mine = generation;
    clearTimeout(timer);
    let result;
    try {
      result = await fetchMessages();
    } catch (_) {
      result = null;
    }
    inflight = false;
    if (!auth) return;
    if (mine !== generation) { poll(); return; }
    if (!result) {
      announce('otpd is not answering; trying again.');
    } else if (result.status === 401) {
      signOut('Those credentials were refused.');
      return;
    } else if (result.status === 200 && result.body) {
      show(result.body.messages);
    } else if (result.status === 400 && result.body) {
      clearList();
      announce(`Filter: ${result.body.error_message}`);
    } else if (result.status === 404) {
      signOut('The staging console is off: otpd is not using the fake provider.');
      return;
    } else {
      announce(`otpd answered ${result.status}; trying again.`);
    }
    timer = setTimeout(poll, document.hidden ? HIDDEN_POLL_MS : POLL_MS);
  }

  function restart() {
    applyFilters();
    generation += 1;
    clearList();
    poll();
  }

  function signOut(reason) {
    auth = null;
    generation += 1;
    clearTimeout(timer);
    clearList();
    $('outbox').hidden = true;
    $('signin').hidden = false;
    $('signin-error').textContent = reason || '';
    $('project-id').focus();
  }

  async function signIn(event) {
    event.preventDefault();
    const id = $('project-id').value.trim();
    const secret = $('secret').value;
    const token = $('operator-token').value.trim();
    $('secret').value = '';
    $('operator-token').value = '';
    if (token) auth = `Bearer ${token}`;
    else if (id && secret) auth = `Basic ${utf8Base64(`${id}:${secret}`)}`;
    else {
      $('signin-error').textContent = 'Enter a project ID and secret, or the operator token.';
      return;
    }
    applyFilters();
    generation += 1;
    const mine = generation;
    let result;
    try { result = await fetchMessages(); } catch (_) { result = null; }
    if (mine !== generation) return;
    if (!result || result.status !== 200 || !result.body) {
      const why = !result ? 'otpd is not answering.'
        : result.status === 401 ? 'Those credentials were refused.'
        : result.status === 404 ? 'The staging console is off: otpd is not using the fake provider.'
        : `otpd answered ${result.status}.`;
      auth = null;
      $('signin-error').textContent = why;
      return;
    }
    const project = result.body.project_id;
    $('viewer').textContent = project ? `Signed in as project ${project}` : 'Signed in as operator: every project';
    $('f-project-field').hidden = Boolean(project);
    $('signin-error').textContent = '';
    $('signin').hidden = true;
    $('outbox').hidden = false;
    clearList();
    show(result.body.messages);
    announce(`${result.body.messages.length} messages. New ones appear by themselves.`);
    $('outbox-title').setAttribute('tabindex', '-1');
    $('outbox-title').focus();
    timer = setTimeout(poll, POLL_MS);
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('signin-form').addEventListener('submit', signIn);
    $('signout').addEventListener('click', () => signOut(''));
    $('filters').addEventListener('submit', (e) => { e.preventDefault(); restart(); });
    $('f-channel').addEventListener('change', restart);
    $('f-to').addEventListener('change', restart);
    $('f-project').addEventListener('change', restart);
    document.addEventListener('visibilitychange', () => { if (auth && !document.hidden) poll(); });
  });
})();
