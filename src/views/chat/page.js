// The chat panel's page (src/views/chat/panel.ts builds its HTML and CSP). It only shows HTML the extension rendered
// (peer text already escaped there) and reports what the user did, naming messages by the extension's own ids.
// It never navigates, never fetches, and never evaluates anything it receives. esbuild.mjs bundles it, with what it
// imports, into dist/chat.js, the one script the panel loads.
import { ago } from '../shared/time';

(function () {
  'use strict';
  const vscode = acquireVsCodeApi();
  const $ = (id) => document.getElementById(id);
  const list = $('list');
  const pill = $('pill');
  const input = $('input');
  const composer = $('composer');
  const attachment = $('attachment');
  const priorityButtons = Array.from(document.querySelectorAll('#priority [data-priority]'));
  let priority = 'next';
  let firstPatch = true;
  let draftTimer;

  const post = (message) => vscode.postMessage(message);
  const atBottom = () => list.scrollHeight - list.scrollTop - list.clientHeight < 48;
  const toBottom = () => {
    list.scrollTop = list.scrollHeight;
    pill.hidden = true;
  };

  function parse(html) {
    const template = document.createElement('template');
    template.innerHTML = html;
    return template.content.firstElementChild;
  }

  // ---- time: relative on the message, absolute in its tooltip, and on request (click or Enter) in place ----
  // The label is ago()'s, as the extension rendered it first; the page keeps it current as time passes.
  function refreshTimes(scope) {
    for (const time of scope.querySelectorAll('time[data-at]')) {
      time.textContent = time.dataset.absolute === '1' ? time.title : ago(Number(time.dataset.at));
    }
  }
  setInterval(() => refreshTimes(list), 30_000);

  // ---- the message list: the extension sends how many items stay as they are, the order of the items after them,
  // and the HTML of new or changed items. Only what follows the kept items is looked at (a new message: one item). ----
  function applyPatch(keep, keepId, order, html) {
    // What the user just sent (.pending) sits after every item, so the kept items are the first `keep` children.
    const lastKept = keep > 0 ? list.children[keep - 1] : null;
    // What the extension keeps must be what this page shows; if not (a patch this page never got), ask for all again.
    if (keep > 0 && (!lastKept || lastKept.id !== keepId)) {
      post({ type: 'resync' });
      return;
    }
    const wasAtBottom = atBottom();
    let addedInbound = false;
    let addedOutbound = false;
    const wanted = new Set(order);
    const rest = [];
    for (let el = lastKept ? lastKept.nextElementSibling : list.firstElementChild; el; el = el.nextElementSibling) rest.push(el);
    for (const el of rest) if (!wanted.has(el.id) && !el.classList.contains('pending')) el.remove();
    let cursor = lastKept ? lastKept.nextElementSibling : list.firstElementChild;
    for (const id of order) {
      let el = document.getElementById(id);
      if (html[id] !== undefined) {
        const fresh = parse(html[id]);
        refreshTimes(fresh);
        if (!el && fresh.classList.contains('in')) addedInbound = true;
        if (!el && fresh.classList.contains('out')) addedOutbound = true;
        if (el) {
          if (el === cursor) cursor = fresh;
          el.replaceWith(fresh);
        }
        el = fresh;
      }
      if (!el) continue;
      if (el === cursor) cursor = cursor.nextElementSibling;
      else list.insertBefore(el, cursor);
    }
    if (addedOutbound) clearPending();
    if (firstPatch) {
      firstPatch = false;
      const unread = list.querySelector('.unread');
      if (unread) unread.scrollIntoView({ block: 'start' });
      else toBottom();
    } else if (wasAtBottom) toBottom();
    else if (addedInbound) pill.hidden = false;
  }

  // What the user just sent shows at once, as queued, until the extension's row for it arrives in a patch (the outbox
  // may already have moved it on to sending by then).
  function showPending(text) {
    const article = document.createElement('article');
    article.className = 'msg out pending';
    article.setAttribute('aria-label', 'you, queued');
    const body = document.createElement('div');
    body.className = 'body';
    const p = document.createElement('p');
    p.className = 'pending-text';
    p.textContent = text;
    body.append(p);
    const status = document.createElement('div');
    status.className = 'status s-queued';
    status.setAttribute('role', 'status');
    const label = document.createElement('span');
    label.className = 'status-label';
    label.textContent = 'queued';
    status.append(label);
    article.append(body, status);
    list.append(article);
    toBottom();
  }
  function clearPending() {
    for (const el of Array.from(list.querySelectorAll('.pending'))) el.remove();
  }

  list.addEventListener('scroll', () => {
    if (atBottom()) pill.hidden = true;
  });
  pill.addEventListener('click', () => {
    toBottom();
    list.focus();
  });

  function act(target) {
    const article = target.closest('article');
    if (target.matches('time')) {
      target.dataset.absolute = target.dataset.absolute === '1' ? '0' : '1';
      refreshTimes(article);
      return;
    }
    if (!article) return;
    if (target.matches('a.link')) return post({ type: 'link', id: article.id, link: Number(target.dataset.link) });
    const action = target.dataset.act;
    if (action === 'copy' || action === 'insert') return post({ type: action, id: article.id, code: Number(target.dataset.code) });
    if (action === 'retry' || action === 'discard' || action === 'open-snippet') return post({ type: action, id: article.id });
  }
  list.addEventListener('click', (event) => {
    const target = event.target.closest('a.link, time, button[data-act]');
    if (!target) return;
    event.preventDefault();
    act(target);
  });
  // Keyboard: Tab reaches every link, time and button in order; Up/Down (Home/End) move between messages, so a
  // screen reader reads one message (sender, time, status, text) at a time; Escape goes back to the composer.
  list.addEventListener('keydown', (event) => {
    const target = event.target;
    if ((event.key === 'Enter' || event.key === ' ') && target.matches && target.matches('a.link, time')) {
      event.preventDefault();
      act(target);
      return;
    }
    const articles = Array.from(list.querySelectorAll('article'));
    if (!articles.length) return;
    const current = target.closest && target.closest('article');
    const at = current ? articles.indexOf(current) : articles.length;
    const next = { ArrowUp: at - 1, ArrowDown: at + 1, Home: 0, End: articles.length - 1 }[event.key];
    if (event.key === 'Escape') {
      event.preventDefault();
      input.focus();
    } else if (next !== undefined && (current || target === list)) {
      event.preventDefault();
      articles[Math.max(0, Math.min(articles.length - 1, next))].focus();
    }
  });

  // ---- the composer ----
  function setPriority(value) {
    priority = value;
    for (const button of priorityButtons) {
      const on = button.dataset.priority === value;
      button.setAttribute('aria-checked', String(on));
      button.tabIndex = on ? 0 : -1;
    }
  }
  function fit() {
    input.style.height = 'auto';
    input.style.height = `${Math.min(input.scrollHeight, 240)}px`;
  }
  function saveDraft() {
    clearTimeout(draftTimer);
    draftTimer = setTimeout(() => post({ type: 'draft', text: input.value, priority }), 300);
  }
  priorityButtons.forEach((button, i) => {
    button.addEventListener('click', () => {
      setPriority(button.dataset.priority);
      saveDraft();
    });
    button.addEventListener('keydown', (event) => {
      const step = event.key === 'ArrowRight' || event.key === 'ArrowDown' ? 1 : event.key === 'ArrowLeft' || event.key === 'ArrowUp' ? -1 : 0;
      if (!step) return;
      event.preventDefault();
      const next = priorityButtons[(i + step + priorityButtons.length) % priorityButtons.length];
      setPriority(next.dataset.priority);
      next.focus();
      saveDraft();
    });
  });
  input.addEventListener('input', () => {
    fit();
    saveDraft();
  });
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      composer.requestSubmit();
    }
  });
  composer.addEventListener('submit', (event) => {
    event.preventDefault();
    clearTimeout(draftTimer);
    if (!input.value.trim() && attachment.hidden) return;
    post({ type: 'send', text: input.value, priority });
    showPending(input.value.trim() || $('attachment-label').textContent);
  });
  $('attach').addEventListener('click', () => post({ type: 'attach' }));
  $('detach').addEventListener('click', () => {
    post({ type: 'detach' });
    input.focus();
  });

  function showAttachment(label) {
    attachment.hidden = !label;
    $('attachment-label').textContent = label ? `Snippet: ${label}` : '';
  }

  // ---- what the extension says ----
  window.addEventListener('message', (event) => {
    const message = event.data;
    switch (message && message.type) {
      case 'patch':
        applyPatch(message.keep, message.keepId, message.order, message.html);
        break;
      case 'header': {
        const h = message.header;
        $('title').textContent = h.title;
        $('subtitle').textContent = h.subtitle;
        $('banner').textContent = h.banner;
        $('banner').hidden = !h.banner;
        if (h.composerLabel) input.setAttribute('aria-label', h.composerLabel);
        if (h.composerHint) input.placeholder = h.composerHint;
        break;
      }
      case 'draft': {
        const d = message.draft;
        if (input.value !== d.text) input.value = d.text;
        setPriority(d.priority);
        showAttachment(d.attachment);
        fit();
        break;
      }
      case 'attachment':
        showAttachment(message.attachment);
        break;
      case 'sent':
        toBottom();
        input.focus();
        break;
      case 'send-failed':
        clearPending();
        break;
      case 'focus':
        input.focus();
        break;
      case 'state':
        vscode.setState(message.state);
        break;
    }
  });

  setPriority(priority);
  post({ type: 'ready' });
})();
