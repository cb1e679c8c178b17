// Switchyard migration console: reads the admin listener's JSON endpoints every 2 seconds while
// the tab is visible and sends the operator's actions (with the admin token from this tab's
// session storage) to its mutating endpoints. Served as /ui/console.js under a CSP that allows
// scripts and styles from this origin only: nothing here uses inline styles, eval or markup
// strings; every node is built with createElement and textContent.
'use strict';

(() => {
  const POLL_MS = 2000;
  const FETCH_TIMEOUT_MS = 5000;
  const TOKEN_KEY = 'switchyard-console-token';
  const CLIENT_HEADER = 'X-Switchyard-Client';
  const CLIENT_NAME = 'console';
  const MAX_ACTION_ROWS = 50;
  const MAX_ALERT_ROWS = 50;

  // What the page reads. `optional` endpoints hide their panel when they answer 404.
  const ENDPOINTS = {
    health: '/health',
    routes: '/routes',
    clusters: '/clusters',
    rollback: '/rollback',
    traffic: '/traffic',
    actions: '/actions',
    rateLimit: '/rate_limit',
    cache: '/cache',
    migration: '/migration',
    rollout: '/rollout',
    shadow: '/shadow',
  };

  const $ = (id) => document.getElementById(id);

  // ---------------------------------------------------------------------------------------------
  // DOM helpers

  const PROPS = new Set(['hidden', 'disabled', 'value', 'checked', 'open', 'required', 'type']);

  function h(tag, props, ...kids) {
    const el = document.createElement(tag);
    if (props) {
      for (const [key, value] of Object.entries(props)) {
        if (value === null || value === undefined || value === false) continue;
        if (key === 'class') el.className = value;
        else if (key === 'text') el.textContent = String(value);
        else if (key === 'dataset') Object.assign(el.dataset, value);
        else if (key === 'on') {
          for (const [event, fn] of Object.entries(value)) el.addEventListener(event, fn);
        } else if (PROPS.has(key)) el[key] = value;
        else el.setAttribute(key, value === true ? '' : String(value));
      }
    }
    append(el, kids);
    return el;
  }

  function append(el, kids) {
    for (const kid of kids) {
      if (kid === null || kid === undefined || kid === false) continue;
      if (Array.isArray(kid)) append(el, kid);
      else el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return el;
  }

  // A table with a caption, column headers and rows; the first cell of a row is its header
  // unless `rowHeaders` is false. A cell is text, a node, or {content, class}.
  // On narrow windows a table with `stack` shows each row as a block, each cell labelled with
  // its column's header (data-label, shown by the style sheet).
  function table({ caption, head, rows, rowHeaders = true, className, captionHidden = false, stack = false }) {
    const labels = head.map((c) => (typeof c === 'string' ? c : ''));
    const cell = (tag, c, scope, col) => {
      const props = { scope, dataset: col !== undefined && labels[col] ? { label: labels[col] } : null };
      if (c && typeof c === 'object' && !(c instanceof Node) && !Array.isArray(c)) {
        return h(tag, { ...props, class: c.class }, c.content);
      }
      return h(tag, props, c);
    };
    const classes = [className, stack ? 'stack' : null].filter(Boolean).join(' ') || null;
    return h('table', { class: classes },
      caption ? h('caption', { class: captionHidden ? 'visually-hidden' : null }, caption) : null,
      h('thead', null, h('tr', null, head.map((c) => cell('th', c, 'col')))),
      h('tbody', null, rows.map((row) => h('tr', null, row.map((c, i) =>
        (rowHeaders && i === 0 ? cell('th', c, 'row', i) : cell('td', c, undefined, i)))))));
  }

  // replaceChildren that skips null/false and flattens arrays, like h().
  function fill(el, ...kids) {
    el.replaceChildren();
    return append(el, kids);
  }

  function wrapTable(t) {
    return h('div', { class: 'table-wrap' }, t);
  }

  // A status word with a symbol in front, so no state is told by colour alone.
  function badge(kind, symbol, text, title) {
    return h('span', { class: `badge ${kind}`, title },
      h('span', { class: 'sym', 'aria-hidden': 'true' }, symbol), ` ${text}`);
  }

  function idFor(prefix, name) {
    return `${prefix}-${String(name).replace(/[^A-Za-z0-9_-]/g, (c) => `_${c.charCodeAt(0)}`)}`;
  }

  // ---------------------------------------------------------------------------------------------
  // Formatting

  const pad = (n, w = 2) => String(n).padStart(w, '0');

  function formatTime(iso) {
    if (!iso) return '—';
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return String(iso);
    const now = new Date();
    const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
    if (d.toDateString() === now.toDateString()) return time;
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time}`;
  }

  function timeEl(iso) {
    if (!iso) return '—';
    return h('time', { datetime: iso, title: iso }, formatTime(iso));
  }

  function formatDuration(ms) {
    if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
    if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
    if (ms < 60000) return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
    const m = Math.floor(ms / 60000);
    return `${m} min ${Math.round((ms % 60000) / 1000)} s`;
  }

  function formatWindow(seconds) {
    const n = Number(seconds);
    if (!Number.isFinite(n) || n <= 0) return '—';
    if (n % 86400 === 0) return n === 86400 ? 'day' : `${n / 86400} days`;
    if (n % 3600 === 0) return n === 3600 ? 'hour' : `${n / 3600} hours`;
    if (n % 60 === 0) return n === 60 ? 'minute' : `${n / 60} minutes`;
    return n === 1 ? 'second' : `${n} seconds`;
  }

  function between(startIso, endIso) {
    const a = Date.parse(startIso);
    const b = endIso ? Date.parse(endIso) : NaN;
    return Number.isFinite(a) && Number.isFinite(b) ? b - a : null;
  }

  // One line when it is short, indented otherwise.
  function compactJson(value) {
    const line = JSON.stringify(value);
    return line.length <= 120 ? line : JSON.stringify(value, null, 2);
  }

  function num(x, digits = 2) {
    return x === null || x === undefined || !Number.isFinite(Number(x))
      ? '—' : Number(x).toFixed(digits);
  }

  function percent(ratio, digits = 1) {
    return ratio === null || ratio === undefined || !Number.isFinite(Number(ratio))
      ? '—' : `${(Number(ratio) * 100).toFixed(digits)} %`;
  }

  function bytes(n) {
    if (!Number.isFinite(Number(n))) return '—';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let v = Number(n);
    let u = 0;
    while (v >= 1024 && u < units.length - 1) { v /= 1024; u += 1; }
    return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
  }

  function versionOrder(a, b) {
    const na = Number(String(a).replace(/^v/, ''));
    const nb = Number(String(b).replace(/^v/, ''));
    if (Number.isFinite(na) && Number.isFinite(nb) && na !== nb) return na - nb;
    return String(a).localeCompare(String(b));
  }

  const REASONS = {
    200: 'OK', 201: 'Created', 202: 'Accepted', 204: 'No Content', 400: 'Bad Request',
    401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
    409: 'Conflict', 413: 'Payload Too Large', 415: 'Unsupported Media Type',
    429: 'Too Many Requests', 500: 'Internal Server Error', 502: 'Bad Gateway',
    503: 'Service Unavailable',
  };

  // ---------------------------------------------------------------------------------------------
  // The admin token: this tab's session storage only, never a URL, never local storage.

  function getToken() {
    try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch (e) { return ''; }
  }

  function setToken(token) {
    try { sessionStorage.setItem(TOKEN_KEY, token); } catch (e) { /* storage refused: stays read-only */ }
    renderTokenState();
  }

  function forgetToken() {
    try { sessionStorage.removeItem(TOKEN_KEY); } catch (e) { /* nothing stored */ }
    renderTokenState();
  }

  function renderTokenState() {
    const has = getToken() !== '';
    const stateEl = $('token-state');
    stateEl.textContent = has ? 'operator' : 'read-only';
    stateEl.className = `badge ${has ? 'operator' : 'readonly'}`;
    $('token-button').textContent = has ? 'Forget token' : 'Enter token';
    document.body.classList.toggle('has-token', has);
    for (const el of document.querySelectorAll('[data-needs-token]')) {
      el.title = has ? '' : 'Asks for the admin token first';
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Dialogs

  function openDialog(dialog) {
    if (typeof dialog.showModal === 'function') dialog.showModal();
    else dialog.setAttribute('open', '');
  }

  function closeDialog(dialog) {
    if (typeof dialog.close === 'function') dialog.close();
    else dialog.removeAttribute('open');
  }

  let tokenResolve = null;

  // Asks for the token; resolves with it, or with null if the operator cancels.
  function askToken(message) {
    const dialog = $('token-dialog');
    const input = $('token-input');
    const error = $('token-error');
    input.value = '';
    error.hidden = !message;
    error.textContent = message || '';
    return new Promise((resolve) => {
      tokenResolve = resolve;
      openDialog(dialog);
      input.focus();
    });
  }

  function finishToken(value) {
    const resolve = tokenResolve;
    tokenResolve = null;
    closeDialog($('token-dialog'));
    if (resolve) resolve(value);
  }

  let confirmResolve = null;

  // Shows exactly what will be sent; resolves true when confirmed. With `reason`, the dialog
  // has a reason field whose text is passed to `withReason` to build the final request.
  function askConfirm({ title, text, request, reason }) {
    $('confirm-title').textContent = title;
    $('confirm-text').textContent = text;
    $('confirm-request').textContent = request;
    const reasonField = $('confirm-reason-field');
    reasonField.hidden = !reason;
    if (reason) $('confirm-reason').value = reason;
    return new Promise((resolve) => {
      confirmResolve = resolve;
      openDialog($('confirm-dialog'));
      $(reason ? 'confirm-reason' : 'confirm-cancel').focus();
    });
  }

  function finishConfirm(ok) {
    const resolve = confirmResolve;
    confirmResolve = null;
    closeDialog($('confirm-dialog'));
    if (resolve) resolve(ok);
  }

  function setUpDialogs() {
    $('token-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const value = $('token-input').value.trim();
      if (!value) {
        $('token-error').hidden = false;
        $('token-error').textContent = 'Enter the token, or cancel.';
        $('token-input').focus();
        return;
      }
      setToken(value);
      $('token-input').value = '';
      finishToken(value);
    });
    $('token-cancel').addEventListener('click', () => finishToken(null));
    $('token-dialog').addEventListener('close', () => { if (tokenResolve) finishToken(null); });

    $('confirm-form').addEventListener('submit', (e) => {
      e.preventDefault();
      finishConfirm(true);
    });
    $('confirm-cancel').addEventListener('click', () => finishConfirm(false));
    $('confirm-dialog').addEventListener('close', () => { if (confirmResolve) finishConfirm(false); });

    $('token-button').addEventListener('click', async () => {
      if (getToken()) {
        forgetToken();
        showNote('Token forgotten', 'The page is read-only again.');
      } else if (!acting) {
        acting = true;
        try {
          const token = await askToken();
          if (token) showNote('Token entered', 'Actions will send it; the server checks it on the first one.');
        } finally {
          acting = false;
        }
      }
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Actions

  // Each message in the result area gets a new sequence number (data-seq), so a reader (or a
  // test) can tell a new answer from the previous one.
  let resultSeq = 0;

  function showNote(title, text) {
    const result = $('result');
    resultSeq += 1;
    result.dataset.seq = String(resultSeq);
    result.className = 'result';
    fill(result, h('p', null, h('strong', null, title), ': ', text));
  }

  function showResult(title, response, text, extra) {
    const result = $('result');
    let body = null;
    try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
    const ok = response.status >= 200 && response.status < 300;
    resultSeq += 1;
    result.dataset.seq = String(resultSeq);
    const statusText = `${response.status} ${response.statusText || REASONS[response.status] || ''}`.trim();
    const detail = body && typeof body === 'object'
      ? (body.detail || body.error || body.title || null) : null;
    result.className = `result ${ok ? 'ok' : 'failed'}`;
    fill(result,
      h('p', { class: 'result-head' },
        badge(ok ? 'good' : 'bad', ok ? '✓' : '✕', ok ? 'done' : 'refused'), ' ',
        h('strong', null, title), ' — server answered ',
        h('span', { class: 'status-code', dataset: { status: String(response.status) } }, statusText),
        ` at ${formatTime(new Date().toISOString())}`),
      detail && !ok ? h('p', { class: 'result-detail' }, String(detail)) : null,
      extra ? h('p', { class: 'result-extra' }, extra) : null,
      h('pre', { class: 'code' }, body !== null ? compactJson(body) : (text || '(empty body)')));
  }

  // The common path of every action: the token (asked once per session), a confirmation showing
  // the exact request, the request itself, and the server's answer in the result area.
  let acting = false;

  async function act(action) {
    // One action at a time: a second click while a dialog is open or a request is out is ignored.
    if (acting) return null;
    acting = true;
    try {
      return await actOnce(action);
    } finally {
      acting = false;
    }
  }

  async function actOnce({ title, text, path, body, reason, withReason }) {
    let token = getToken();
    if (!token) {
      token = await askToken();
      if (!token) {
        showNote(title, 'cancelled: no token was entered, nothing was sent.');
        return null;
      }
    }
    const render = (b) => `POST ${path}\n${JSON.stringify(b, null, 2)}`;
    const confirmed = await askConfirm({ title, text, request: render(body), reason });
    if (!confirmed) {
      showNote(title, 'cancelled, nothing was sent.');
      return null;
    }
    const finalBody = withReason ? withReason($('confirm-reason').value.trim(), body) : body;
    let response;
    let responseText = '';
    try {
      response = await fetchWithTimeout(path, {
        method: 'POST',
        headers: {
          Authorization: `Bearer ${token}`,
          [CLIENT_HEADER]: CLIENT_NAME,
          'Content-Type': 'application/json',
          Accept: 'application/json, application/problem+json',
        },
        body: JSON.stringify(finalBody),
      });
      responseText = await response.text();
    } catch (e) {
      const result = $('result');
      resultSeq += 1;
      result.dataset.seq = String(resultSeq);
      result.className = 'result failed';
      fill(result, h('p', null, badge('bad', '✕', 'not sent'), ' ', h('strong', null, title),
        ` — the admin listener could not be reached (${e.message || e}).`));
      return null;
    }
    let extra = null;
    if (response.status === 401) {
      forgetToken();
      extra = 'The server refused the token, so the page forgot it and is read-only again. Enter the token to try again.';
    }
    showResult(title, response, responseText, extra);
    poll();
    return response.status;
  }

  // ---------------------------------------------------------------------------------------------
  // Polling

  let timer = null;
  let polling = false;
  let pollAgain = false;
  let polls = 0;
  let lastSuccess = null;
  const data = {};
  const renderedKeys = {};
  const absent = new Set();
  const REPROBE_EVERY = 15;

  function fetchWithTimeout(path, options = {}) {
    const controller = new AbortController();
    const t = setTimeout(() => controller.abort(), FETCH_TIMEOUT_MS);
    return fetch(path, {
      cache: 'no-store', credentials: 'same-origin', redirect: 'error', ...options,
      signal: controller.signal,
    }).finally(() => clearTimeout(t));
  }

  // {status, body} for an answer (body null when it is not JSON), or {error} when the listener
  // could not be reached.
  async function getJson(path) {
    try {
      const response = await fetchWithTimeout(path, { headers: { Accept: 'application/json' } });
      const text = await response.text();
      let body = null;
      try { body = JSON.parse(text); } catch (e) { body = null; }
      return { status: response.status, body };
    } catch (e) {
      return { error: e.name === 'AbortError' ? 'timed out' : (e.message || String(e)) };
    }
  }

  function schedule() {
    clearTimeout(timer);
    timer = null;
    if (document.hidden) {
      $('polling-state').textContent = '(paused while this tab is hidden)';
      return;
    }
    $('polling-state').textContent = '';
    timer = setTimeout(poll, POLL_MS);
  }

  async function poll() {
    if (polling) { pollAgain = true; return; }
    polling = true;
    clearTimeout(timer);
    timer = null;
    try {
      // Endpoints that answered 404 (a filter or feature this sidecar does not have) are asked
      // again every REPROBE_EVERY polls only.
      const names = Object.keys(ENDPOINTS).filter((n) =>
        !absent.has(n) || polls % REPROBE_EVERY === 0);
      const answers = await Promise.all(names.map((n) => getJson(ENDPOINTS[n])));
      const got = {};
      names.forEach((n, i) => { got[n] = answers[i]; });
      const reachable = !got.routes.error;
      if (reachable) {
        for (const n of names) {
          const a = got[n];
          if (a.status === 404) absent.add(n); else if (!a.error) absent.delete(n);
          // Only a 2xx answer is data, and /health's 503 (a cluster is down), which has its body.
          const usable = (a.status >= 200 && a.status < 300) || (n === 'health' && a.status === 503);
          if (!a.error) data[n] = usable ? (a.body ?? null) : null;
          data[`${n}Status`] = a.status;
        }
        lastSuccess = new Date();
        setBanner(null);
      } else {
        setBanner(`The admin listener at ${location.host} cannot be reached (${got.routes.error}). ` +
          `${lastSuccess ? `The figures below are from ${formatTime(lastSuccess.toISOString())}. ` : ''}` +
          `Retrying every ${POLL_MS / 1000} seconds.`);
      }
      if (reachable) render();
      polls += 1;
      document.body.dataset.polls = String(polls);
    } catch (e) {
      setBanner(`The console failed to show the sidecar's answers: ${e.message || e}`, 'Display error.');
      // Keep polling: the next answer may render.
      if (window.console) window.console.error(e);
    } finally {
      polling = false;
      if (pollAgain) { pollAgain = false; setTimeout(poll, 0); } else schedule();
    }
  }

  function setBanner(text, title = 'Disconnected.') {
    const banner = $('banner');
    banner.hidden = !text;
    fill(banner, text ? h('p', null, h('strong', null, `${title} `), text) : '');
    document.body.classList.toggle('disconnected', Boolean(text));
  }

  // Re-renders a part only when the data it shows changed (keeps focus, open details, scroll).
  function changed(part, ...inputs) {
    const key = JSON.stringify(inputs);
    if (renderedKeys[part] === key) return false;
    renderedKeys[part] = key;
    return true;
  }

  function render() {
    const updated = $('last-update');
    updated.dateTime = lastSuccess.toISOString();
    updated.textContent = formatTime(lastSuccess.toISOString());
    if (changed('health', data.health)) renderHealth(data.health);
    renderRoutes();
    if (changed('clusters', data.clusters, data.health, data.traffic)) renderClusters();
    if (changed('rateLimit', data.rateLimit)) renderRateLimit(data.rateLimit);
    if (changed('cache', data.cache)) renderCache(data.cache);
    if (changed('migration', data.migration)) renderMigration(data.migration);
    if (changed('rollout', data.rollout)) renderGeneric('rollout', data.rollout);
    if (changed('shadow', data.shadow)) renderGeneric('shadow', data.shadow);
    if (changed('rollback', data.rollback)) renderRollback(data.rollback);
    if (changed('actions', data.actions)) renderActions(data.actions);
  }

  // ---------------------------------------------------------------------------------------------
  // Header

  function renderHealth(health) {
    const el = $('health-summary');
    if (!health || typeof health !== 'object') {
      fill(el, badge('unknown', '?', 'unknown'));
      return;
    }
    const status = health.status || 'unknown';
    const kinds = { ok: ['good', '✓'], degraded: ['warn', '⚠'], down: ['bad', '✕'] };
    const [kind, sym] = kinds[status] || ['unknown', '?'];
    const notes = [];
    if (health.ready === false) notes.push('not ready');
    const comps = health.components || {};
    const clusters = comps.clusters || {};
    const bad = Object.entries(clusters).filter(([, c]) => c && c.status && c.status !== 'ok');
    if (bad.length) notes.push(`${bad.map(([n, c]) => `${n} ${c.status}`).join(', ')}`);
    const rb = comps.rollback && comps.rollback.routes ? comps.rollback.routes : {};
    const rolled = Object.entries(rb).filter(([, s]) => s !== 'active');
    if (rolled.length) notes.push(rolled.map(([r, s]) => `${r} ${s.replace(/_/g, ' ')}`).join(', '));
    if (comps.redis && comps.redis.status && !['ok', 'not_configured'].includes(comps.redis.status)) {
      notes.push(`redis ${comps.redis.status}`);
    }
    fill(el, badge(kind, sym, status), notes.length ? ` (${notes.join('; ')})` : '');
  }

  // ---------------------------------------------------------------------------------------------
  // Routes

  const cards = new Map();  // route name -> {el, signature, parts, editors}
  let cardSerial = 0;

  function routeTargets(route) {
    // [{version, target}] with version '' for an unversioned route.
    if (route.versions && typeof route.versions === 'object') {
      return Object.keys(route.versions).sort(versionOrder)
        .map((v) => ({ version: v, target: route.versions[v] }));
    }
    return [{ version: '', target: route }];
  }

  function routeSignature(route) {
    return JSON.stringify(routeTargets(route).map(({ version, target }) =>
      [version, (target.split || []).map((s) => s.cluster)]));
  }

  function renderRoutes() {
    const container = $('routes');
    const routes = data.routes && Array.isArray(data.routes.routes) ? data.routes.routes : [];
    const traffic = data.traffic;
    const note = $('traffic-note');
    if (traffic && Number.isFinite(Number(traffic.window_seconds))) {
      note.textContent = `Live figures cover the last ${Math.round(Number(traffic.window_seconds))} s (requests per second, share of 5xx answers, 95th percentile of the duration).`;
    } else {
      note.textContent = 'Live figures are not available: this sidecar does not serve GET /traffic.';
    }
    if (!routes.length) {
      cards.clear();
      fill(container, h('p', { class: 'muted' }, 'No routes.'));
      return;
    }
    const seen = new Set();
    const order = [];
    for (const route of routes) {
      seen.add(route.name);
      const sig = routeSignature(route);
      let card = cards.get(route.name);
      if (!card || card.signature !== sig) {
        card = buildCard(route, sig);
        cards.set(route.name, card);
      }
      updateCard(card, route);
      order.push(card.el);
    }
    for (const name of [...cards.keys()]) if (!seen.has(name)) cards.delete(name);
    // Reorder/insert without detaching cards that are already in place (keeps focus).
    const current = [...container.children];
    const same = current.length === order.length && current.every((el, i) => el === order[i]);
    if (!same) fill(container, ...order);
  }

  function buildCard(route, signature) {
    cardSerial += 1;
    const id = `route-${cardSerial}`;
    const parts = {
      state: h('p', { class: 'route-state' }),
      actions: h('div', { class: 'route-actions' }),
      guard: h('div', { class: 'guard' }),
      traffic: h('div', { class: 'traffic' }),
      versions: h('div', { class: 'versions' }),
    };
    const trigger = h('button', {
      type: 'button', class: 'danger', dataset: { action: 'trigger', route: route.name, needsToken: '' },
      text: 'Trigger rollback…',
    });
    const resume = h('button', {
      type: 'button', dataset: { action: 'resume', route: route.name, needsToken: '' }, text: 'Resume…',
    });
    trigger.addEventListener('click', () => act({
      title: `Roll back route ${route.name}`,
      text: `Start the rollback plan of route ${route.name} now. Its steps run in order (see the executions below); the route stays rolled back until it is resumed.`,
      path: '/rollback/trigger',
      body: { route: route.name, reason: 'manual rollback from the migration console' },
      reason: 'manual rollback from the migration console',
      withReason: (reason, body) => ({ ...body, reason: reason || body.reason }),
    }));
    resume.addEventListener('click', () => act({
      title: `Resume route ${route.name}`,
      text: `Clear route ${route.name}'s runtime weights and pinned version and make it active again: traffic goes back to the configured split.`,
      path: '/rollback/resume',
      body: { route: route.name },
    }));
    parts.actions.append(trigger, resume);
    parts.trigger = trigger;
    parts.resume = resume;

    const el = h('article', { class: 'card route-card', 'aria-labelledby': `${id}-h`, dataset: { route: route.name } },
      h('header', { class: 'card-head' },
        h('h3', { id: `${id}-h` }, 'Route ', h('span', { class: 'name' }, route.name), ' ',
          h('code', { class: 'prefix' }, route.prefix || '')),
        parts.state, parts.actions),
      parts.guard,
      h('h4', { class: 'subhead' }, 'Live traffic, side by side'),
      parts.traffic,
      parts.versions);

    const editors = new Map();
    for (const { version, target } of routeTargets(route)) {
      const vid = `${id}-${idFor('v', version || 'split')}`;
      const section = h('section', { class: 'version', 'aria-labelledby': `${vid}-h`, dataset: { version } });
      const heading = h('h4', { id: `${vid}-h` });
      const tags = h('span', { class: 'tags' });
      const splitTable = h('div', { class: 'table-wrap' });
      section.append(h('div', { class: 'version-head' }, heading, tags), splitTable);
      const split = target.split || [];
      let editor = null;
      if (split.length > 1) {
        editor = buildEditor(route.name, version, split, vid);
        section.append(editor.form);
      }
      parts.versions.append(section);
      editors.set(version, { heading, tags, splitTable, editor });
    }
    return { el, signature, parts, editors };
  }

  function updateCard(card, route) {
    const rb = data.rollback && data.rollback.routes ? data.rollback.routes[route.name] : null;
    const exec = rb && rb.execution_id && data.rollback && Array.isArray(data.rollback.executions)
      ? data.rollback.executions.find((e) => e.id === rb.execution_id) : null;
    const key = [route, rb, exec, data.traffic];
    if (card.lastKey === JSON.stringify(key)) return;
    card.lastKey = JSON.stringify(key);
    const { parts } = card;

    // State: rollback state, pin, overrides.
    const bits = [];
    const state = rb ? rb.state : null;
    const stateBadges = {
      active: ['good', '●', 'active'],
      rolling_back: ['warn', '↻', 'rolling back'],
      rolled_back: ['bad', '↺', 'rolled back'],
      rollback_failed: ['bad', '✕', 'rollback failed'],
    };
    if (state) {
      const [kind, sym, text] = stateBadges[state] || ['unknown', '?', state];
      bits.push(h('span', { class: 'route-state-value', dataset: { state } }, badge(kind, sym, text)));
      if (state !== 'active' && rb.since) bits.push(' since ', timeEl(rb.since));
      if (rb.execution_id) {
        bits.push(' by execution ', h('a', { href: `#${idFor('exec', rb.execution_id)}`, class: 'exec-link' }, rb.execution_id));
      }
    } else {
      bits.push(h('span', { class: 'route-state-value', dataset: { state: 'active' } }, badge('good', '●', 'active')),
        h('span', { class: 'muted' }, ' (no rollback plan)'));
    }
    if (route.pinned_version) {
      bits.push(' ', badge('warn', '⚑', `pinned to ${route.pinned_version}`));
    }
    const overridden = routeTargets(route).filter(({ target }) => target.overridden);
    if (overridden.length) {
      bits.push(' ', badge('warn', '✎', `weights overridden${route.versions ? ` (${overridden.map((o) => o.version).join(', ')})` : ''}`));
    }
    if (route.deprecated) bits.push(' ', badge('muted', '⌛', 'deprecated'));
    fill(parts.state, ...bits);

    // Actions: trigger while active (or after a failed rollback), resume once rolled back.
    parts.trigger.hidden = !rb || !(state === 'active' || state === 'rollback_failed');
    parts.resume.hidden = !rb || !(state === 'rolled_back' || state === 'rollback_failed');
    parts.actions.hidden = parts.trigger.hidden && parts.resume.hidden;

    // Guard.
    const guardBits = [];
    if (rb && rb.guard) {
      const g = rb.guard;
      const p95 = !g.requests || g.p95_seconds === null || g.p95_seconds === undefined
        ? null : `${num(g.p95_seconds * 1000, 1)} ms`;
      guardBits.push(h('p', null, h('strong', null, `Guard on ${g.version || 'the route'}: `),
        g.breached ? badge('bad', '▲', 'breached') : badge('good', '✓', 'within limits'),
        ` ${g.requests ?? 0} responses in its window`,
        g.requests ? `, ${g.errors ?? 0} errors (${percent(g.error_ratio)})` : '',
        p95 ? `, p95 ${p95}` : '', '.'));
    }
    if (exec) {
      const steps = Array.isArray(exec.steps) ? exec.steps : [];
      guardBits.push(h('p', { class: 'latest-exec' }, h('strong', null, 'Rollback: '), statusBadge(exec.status),
        ` ${exec.trigger && exec.trigger.kind ? exec.trigger.kind : ''}${exec.trigger && exec.trigger.reason ? `: ${exec.trigger.reason}` : ''}. Steps: `,
        steps.length ? steps.map((st, i) => [i ? ', ' : '', h('code', null, st.type), ' ', statusBadge(st.status),
          st.finished_at ? ` ${formatDuration(between(st.started_at, st.finished_at))}` : '']) : 'none',
        '.'));
    }
    if (rb && rb.cluster_health) {
      const c = rb.cluster_health;
      guardBits.push(h('p', null, h('strong', null, 'Health trigger: '), `cluster ${c.cluster} `,
        c.every_endpoint_unhealthy ? badge('bad', '✕', 'every endpoint unhealthy') : badge('good', '✓', 'has healthy endpoints')));
    }
    fill(parts.guard, ...guardBits);
    parts.guard.hidden = guardBits.length === 0;

    // Traffic, side by side: versions, then the clusters the route sends to.
    fill(parts.traffic, trafficTables(route));

    // Versions and splits.
    for (const { version, target } of routeTargets(route)) {
      const v = card.editors.get(version);
      if (!v) continue;
      v.heading.textContent = version ? `Version ${version}` : 'Split';
      const tags = [];
      if (version && route.default_version === version) tags.push(badge('muted', '★', 'default'));
      if (target.deprecated) tags.push(badge('muted', '⌛', 'deprecated'));
      if (route.pinned_version && version) {
        tags.push(route.pinned_version === version
          ? badge('warn', '⚑', 'pinned: every request')
          : badge('muted', '∅', `not served while pinned to ${route.pinned_version}`));
      }
      if (target.overridden) tags.push(badge('warn', '✎', 'overridden'));
      fill(v.tags, ...tags.flatMap((t) => [t, ' ']));
      fill(v.splitTable, splitTable(route, version, target));
      if (v.editor) v.editor.update(target.split || []);
    }
  }

  function shares(split, key) {
    const total = split.reduce((s, x) => s + Number(x[key] || 0), 0);
    return split.map((x) => (total > 0 ? (100 * Number(x[key] || 0)) / total : 0));
  }

  function splitTable(route, version, target) {
    const split = target.split || [];
    const current = shares(split, 'weight');
    const configured = shares(split, 'configured_weight');
    const rows = split.map((s, i) => {
      const differs = Number(s.weight) !== Number(s.configured_weight);
      return [
        s.cluster,
        `${s.configured_weight} (${configured[i].toFixed(0)} %)`,
        {
          class: differs ? 'changed' : null,
          content: [`${s.weight} `, h('span', { class: 'share-text' }, `(${current[i].toFixed(0)} %)`),
            differs ? h('span', { class: 'marker' }, ' ✎ overridden') : null],
        },
        h('meter', { min: '0', max: '100', value: current[i].toFixed(1), 'aria-label': `${s.cluster}: ${current[i].toFixed(0)} percent` }),
      ];
    });
    return table({
      caption: `Split of ${version ? `version ${version}` : `route ${route.name}`}${target.sticky ? ` (sticky by ${target.sticky})` : ''}`,
      head: ['Cluster', 'Configured weight', 'Current weight', 'Share'],
      rows,
      className: 'split',
    });
  }

  function trafficFor(list, pred) {
    return Array.isArray(list) ? list.find(pred) || null : null;
  }

  function trafficCells(entry) {
    if (!entry) return ['0.00', '—', '—', '0'];
    const high = entry.error_ratio !== null && entry.error_ratio !== undefined && entry.error_ratio > 0.05;
    return [
      num(entry.requests_per_second, 2),
      high ? { class: 'bad-text', content: [h('span', { 'aria-hidden': 'true' }, '▲ '), percent(entry.error_ratio)] }
        : percent(entry.error_ratio),
      entry.p95_ms === null || entry.p95_ms === undefined ? '—' : num(entry.p95_ms, 1),
      String(entry.requests ?? 0),
    ];
  }

  // Rows are the figures, columns the sides: v1 next to v2.
  function sideBySide(caption, sides) {
    const metrics = ['Requests/s', 'Errors (5xx)', 'p95 (ms)', 'Requests'];
    const cols = sides.map((s) => trafficCells(s.entry));
    return table({
      caption,
      head: [h('span', { class: 'visually-hidden' }, 'Figure'), ...sides.map((s) => s.label)],
      rows: metrics.map((m, i) => [m, ...cols.map((c) => c[i])]),
      className: 'numbers',
    });
  }

  function trafficTables(route) {
    const traffic = data.traffic;
    if (!traffic) return h('p', { class: 'muted' }, 'No live figures (GET /traffic is not served).');
    const targets = routeTargets(route);
    const versions = route.versions ? targets.map((t) => t.version) : [''];
    // Requests naming a version the route does not have (400s) get a column once there are any.
    const unknown = trafficFor(traffic.routes, (e) => e.route === route.name && e.version === 'unknown');
    if (route.versions && unknown && Number(unknown.requests) > 0) versions.push('unknown');
    const versionSides = versions.map((v) => ({
      label: v === 'unknown' ? 'unknown version' : (v || 'all requests'),
      entry: trafficFor(traffic.routes, (e) => e.route === route.name && (e.version || '') === v),
    }));
    const clusters = [];
    for (const { target } of targets) {
      for (const s of target.split || []) if (!clusters.includes(s.cluster)) clusters.push(s.cluster);
    }
    const clusterSides = clusters.map((c) => ({
      label: c, entry: trafficFor(traffic.clusters, (e) => e.cluster === c),
    }));
    const win = Math.round(Number(traffic.window_seconds) || 0);
    return h('div', { class: 'side-by-side' },
      wrapTable(sideBySide(route.versions ? `Per version, last ${win} s` : `Route, last ${win} s`, versionSides)),
      clusterSides.length ? wrapTable(sideBySide(`Per cluster (all routes), last ${win} s`, clusterSides)) : null);
  }

  // Sliders (0-100) with exact number inputs bound to them. With two clusters, moving one moves
  // the other to the rest of 100.
  function buildEditor(routeName, version, split, vid) {
    const rows = [];
    const form = h('form', { class: 'weights', novalidate: true, dataset: { route: routeName, version } });
    const status = h('p', { class: 'editor-status muted' });
    const apply = h('button', { type: 'submit', class: 'primary', dataset: { action: 'apply', needsToken: '' } }, 'Apply…');
    const reset = h('button', { type: 'button', dataset: { action: 'reset-weights', needsToken: '' } }, 'Back to configured…');
    const discard = h('button', { type: 'button', dataset: { action: 'discard' }, hidden: true }, 'Discard edits');
    const fieldset = h('fieldset', null,
      h('legend', null, `Change the weights of ${version ? `version ${version}` : `route ${routeName}`}`));
    let dirty = false;
    let serverSplit = split;

    const setDirty = (d) => {
      dirty = d;
      discard.hidden = !d;
      form.classList.toggle('dirty', d);
    };
    const sum = () => rows.reduce((s, r) => s + Number(r.number.value || 0), 0);
    const refresh = () => {
      const total = sum();
      status.textContent = dirty
        ? `Edited, not applied yet. Total ${total}${total === 100 ? '' : ' (weights are relative: shares are weight ÷ total)'}.`
        : 'Showing the current weights in percent.';
      apply.disabled = total <= 0;
      if (total <= 0) status.textContent = 'At least one weight must be above 0.';
    };
    const clamp = (v) => Math.max(0, Math.min(100, Math.round(Number(v) || 0)));
    const setRow = (row, v) => { row.range.value = String(v); row.number.value = String(v); };
    const onChange = (row, value) => {
      const v = clamp(value);
      setRow(row, v);
      if (rows.length === 2) setRow(rows.find((r) => r !== row), 100 - v);
      setDirty(true);
      refresh();
    };

    split.forEach((s, i) => {
      const rid = `${vid}-w${i}`;
      const range = h('input', {
        type: 'range', id: `${rid}-r`, min: '0', max: '100', step: '1',
        class: 'weight-range', dataset: { cluster: s.cluster },
      });
      const number = h('input', {
        type: 'number', id: `${rid}-n`, min: '0', max: '100', step: '1', inputmode: 'numeric',
        class: 'weight-number', dataset: { cluster: s.cluster },
      });
      const row = { cluster: s.cluster, range, number };
      range.addEventListener('input', () => onChange(row, range.value));
      number.addEventListener('input', () => {
        if (number.value === '') { setDirty(true); refresh(); return; }
        onChange(row, number.value);
      });
      number.addEventListener('change', () => onChange(row, number.value));
      rows.push(row);
      fieldset.append(h('div', { class: 'weight-row' },
        h('label', { for: range.id, class: 'weight-label' }, h('span', { class: 'cluster-name' }, s.cluster),
          h('span', { class: 'visually-hidden' }, ' weight in percent, slider')),
        range,
        h('label', { for: number.id, class: 'visually-hidden' }, `${s.cluster} weight in percent, exact number`),
        number,
        h('span', { class: 'unit', 'aria-hidden': 'true' }, '%')));
    });
    fieldset.append(status, h('div', { class: 'buttons' }, apply, reset, discard));
    form.append(fieldset);

    const loadFromServer = () => {
      const pct = shares(serverSplit, 'weight').map((x) => Math.round(x));
      rows.forEach((row, i) => setRow(row, pct[i] ?? 0));
      setDirty(false);
      refresh();
    };

    discard.addEventListener('click', loadFromServer);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const weights = {};
      for (const row of rows) weights[row.cluster] = clamp(row.number.value);
      const body = version ? { route: routeName, version, weights } : { route: routeName, weights };
      const before = serverSplit.map((s) => `${s.cluster} ${s.weight}`).join(', ');
      const after = rows.map((r) => `${r.cluster} ${weights[r.cluster]}`).join(', ');
      const status = await act({
        title: `Set the weights of ${routeName}${version ? ` ${version}` : ''}`,
        text: `Route ${routeName}${version ? `, version ${version}` : ''}: from ${before} to ${after}. Applies at once on every worker, until cleared or rolled back.`,
        path: '/routes/weights',
        body,
      });
      if (status === 200) setDirty(false);
    });
    reset.addEventListener('click', async () => {
      const body = version ? { route: routeName, version, weights: null } : { route: routeName, weights: null };
      const status = await act({
        title: `Reset the weights of ${routeName}${version ? ` ${version}` : ''}`,
        text: `Clear the runtime override of route ${routeName}${version ? `, version ${version}` : ''}: back to the configured weights (${serverSplit.map((s) => `${s.cluster} ${s.configured_weight}`).join(', ')}).`,
        path: '/routes/weights',
        body,
      });
      if (status === 200) setDirty(false);
    });

    loadFromServer();
    return {
      form,
      update(newSplit) {
        serverSplit = newSplit;
        if (!dirty) loadFromServer();
      },
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Clusters

  function breakerCell(cb) {
    if (!cb) return h('span', { class: 'muted' }, 'no breaker');
    const states = {
      closed: ['good', '✓', 'closed'],
      half_open: ['warn', '◐', 'half-open'],
      open: ['bad', '✕', 'open'],
    };
    const [kind, sym, text] = states[cb.state] || ['unknown', '?', cb.state || 'unknown'];
    return [badge(kind, sym, text),
      cb.state === 'open' && Number.isFinite(cb.open_remaining_ms) ? ` (${formatDuration(cb.open_remaining_ms)} left)` : '',
      cb.window ? h('div', { class: 'small muted' }, `${cb.window.failures ?? 0} of ${cb.window.requests ?? 0} failed in window`) : null];
  }

  function bulkheadCell(b) {
    if (!b) return '—';
    const limit = Number(b.limit);
    if (!limit) return `${b.active} / unlimited`;
    return [`${b.active} / ${limit}`, ' ',
      h('meter', { min: '0', max: String(limit), value: String(b.active), 'aria-label': `${b.active} of ${limit} in use` })];
  }

  function endpointsCell(cluster, health) {
    const hc = health && health.components && health.components.clusters
      ? health.components.clusters[cluster.name] : null;
    const list = hc && Array.isArray(hc.endpoints) && hc.endpoints.length ? hc.endpoints : null;
    const addresses = Array.isArray(cluster.addresses) ? cluster.addresses : null;
    if (addresses && addresses.length && typeof addresses[0] === 'object') {
      const healthy = addresses.filter((a) => a.healthy !== false).length;
      const ejected = addresses.filter((a) => a.ejected).length;
      return endpointsText(healthy, addresses.length, ejected, addresses.map((a) => a.address).join(', '));
    }
    if (list) {
      const healthy = list.filter((e) => e.healthy === true || e.reachable === true).length;
      const unknown = list.filter((e) => e.reachable === null).length;
      const ejected = list.filter((e) => e.ejected).length;
      return endpointsText(healthy, list.length, ejected, list.map((e) => e.address).join(', '), unknown);
    }
    return `${(cluster.endpoints || []).length} configured`;
  }

  function endpointsText(healthy, total, ejected, title, unknown = 0) {
    const kind = healthy === total ? 'good' : healthy === 0 && unknown === 0 ? 'bad' : 'warn';
    const sym = kind === 'good' ? '✓' : kind === 'bad' ? '✕' : '⚠';
    return h('span', { title }, badge(kind, sym, `${healthy}/${total} healthy`),
      `, ${ejected} ejected`, unknown ? `, ${unknown} not checked yet` : '');
  }

  function renderClusters() {
    const container = $('clusters');
    const list = data.clusters && Array.isArray(data.clusters.clusters) ? data.clusters.clusters : [];
    if (!list.length) {
      fill(container, h('p', { class: 'muted' }, 'No clusters.'));
      return;
    }
    const traffic = data.traffic;
    const rows = list.map((c) => {
      const cb = c.circuit_breaker;
      const t = traffic ? trafficFor(traffic.clusters, (e) => e.cluster === c.name) : null;
      const conns = c.connections || {};
      return [
        c.name,
        breakerCell(cb),
        cb ? bulkheadCell(cb.concurrent_requests) : '—',
        cb ? bulkheadCell(cb.concurrent_retries) : '—',
        endpointsCell(c, data.health),
        `${conns.open ?? 0}${conns.max_per_worker ? ` (max ${conns.max_per_worker}/worker)` : ''}`,
        traffic ? `${num(t ? t.requests_per_second : 0, 2)} req/s, ${percent(t ? t.error_ratio : null)} errors, p95 ${t && t.p95_ms !== null && t.p95_ms !== undefined ? `${num(t.p95_ms, 1)} ms` : '—'}` : '—',
      ];
    });
    fill(container, table({
      caption: 'Breakers, bulkheads and endpoints per cluster',
      captionHidden: true,
      stack: true,
      head: ['Cluster', 'Breaker', 'Requests in flight / limit', 'Retries in flight / limit', 'Endpoints', 'Connections open', 'Last minute'],
      rows,
    }));
  }

  // ---------------------------------------------------------------------------------------------
  // Rate limits and cache

  function renderRateLimit(rl) {
    const panel = $('rate-limit-panel');
    panel.hidden = !rl;
    if (!rl) return;
    const policies = Array.isArray(rl.policies) ? rl.policies : [];
    if (!policies.length) {
      fill($('rate-limit'), h('p', { class: 'muted' }, 'No policies.'));
      return;
    }
    const keyText = (k) => {
      if (!k) return '—';
      if (typeof k === 'string') return k.replace(/_/g, ' ');
      if (k.header) return `header ${k.header}`;
      return JSON.stringify(k);
    };
    const matchText = (m) => {
      if (!m || typeof m !== 'object') return 'every request';
      const bits = [];
      if (m.path_prefix) bits.push(`path ${m.path_prefix}*`);
      if (Array.isArray(m.methods) && m.methods.length) bits.push(m.methods.join('/'));
      for (const [k, v] of Object.entries(m)) {
        if (k !== 'path_prefix' && k !== 'methods') bits.push(`${k} ${typeof v === 'string' ? v : JSON.stringify(v)}`);
      }
      return bits.join(', ') || 'every request';
    };
    const hasAllowed = policies.some((p) => p.allowed !== undefined);
    const hasRedis = policies.some((p) => p.redis_errors !== undefined);
    const count = (n, warn) => (Number(n) > 0 && warn ? { class: 'warn-text', content: String(n) } : String(n ?? 0));
    fill($('rate-limit'), table({
      caption: 'Policies of the rate_limit filter, with their counts since start',
      captionHidden: true,
      stack: true,
      head: ['Policy', 'Limit', 'Key', 'Applies to', 'Mode', ...(hasAllowed ? ['Allowed'] : []),
        'Denied', 'Shadow denials', ...(hasRedis ? ['Redis errors'] : [])],
      rows: policies.map((p) => [
        p.name,
        `${p.limit} per ${formatWindow(p.window_seconds)}${p.burst && p.burst !== p.limit ? ` (burst ${p.burst})` : ''}`,
        keyText(p.key),
        matchText(p.match),
        `${p.mode || p.scope || '—'}${p.shadow ? ', shadow (counts, never denies)' : ''}`,
        ...(hasAllowed ? [String(p.allowed ?? '—')] : []),
        count(p.denied, true),
        count(p.shadow_denied, true),
        ...(hasRedis ? [count(p.redis_errors, true)] : []),
      ]),
    }));
  }

  function renderCache(cache) {
    const panel = $('cache-panel');
    panel.hidden = !cache;
    if (!cache) return;
    const m = cache.memory;
    if (!m || typeof m !== 'object') {
      fill($('cache'), generic(cache));
      return;
    }
    const c = cache.coalescing || {};
    const ev = m.evictions || {};
    const purged = m.purged || {};
    const maxBytes = Number(m.max_bytes) || 0;
    const items = [
      ['Entries', `${m.entries ?? 0} (${m.keys ?? 0} URLs)`],
      ['Memory used', [`${bytes(m.bytes)} of ${bytes(maxBytes)} `,
        maxBytes ? h('meter', { min: '0', max: String(maxBytes), value: String(m.bytes || 0), 'aria-label': 'memory used' }) : null]],
      ['Stored', String(m.inserts ?? 0)],
      ['Evicted', `${ev.capacity ?? 0} for space, ${ev.variants ?? 0} variants`],
      ['Purged', `${purged.hard ?? 0} removed, ${purged.soft ?? 0} marked stale`],
      ['Too large to store', String(m.refused_too_large ?? 0)],
      ['Requests in flight / waiting', `${c.in_flight ?? 0} / ${c.waiting ?? 0}`],
      ['Redis tier', cache.redis && cache.redis.enabled ? 'on' : 'off'],
    ];
    const largest = Array.isArray(m.largest) ? m.largest.slice(0, 5) : [];
    fill($('cache'),
      h('dl', { class: 'kv' }, items.map(([k, v]) => h('div', null, h('dt', null, k), h('dd', null, v)))),
      largest.length ? wrapTable(table({
        caption: 'Largest entries', head: Object.keys(largest[0]),
        rows: largest.map((e) => Object.values(e).map((v) => generic(v, 3))), rowHeaders: false,
      })) : null);
  }

  function setUpPurge() {
    $('purge-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const selector = $('purge-selector').value;
      const value = $('purge-value').value.trim();
      const mode = $('purge-mode').value;
      if (!value) {
        showNote('Purge cache', 'enter what to purge first (a path prefix, URL or tag).');
        $('purge-value').focus();
        return;
      }
      act({
        title: 'Purge the cache',
        text: `${mode === 'soft' ? 'Mark stale' : 'Remove'} every cached response ${
          selector === 'prefix' ? `whose path starts with ${value}` : selector === 'key' ? `for ${value}` : `tagged ${value}`}.`,
        path: '/cache/purge',
        body: { [selector]: value, mode },
      });
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Generic panels (migration, rollout, shadow): key/value rendering of whatever they answer.

  function generic(value, depth = 0) {
    if (value === null || value === undefined) return '—';
    if (typeof value !== 'object') return String(value);
    if (depth > 3) return h('code', null, JSON.stringify(value));
    if (Array.isArray(value)) {
      if (!value.length) return h('span', { class: 'muted' }, 'none');
      if (value.every((v) => v && typeof v === 'object' && !Array.isArray(v))) {
        const keys = [...new Set(value.flatMap((v) => Object.keys(v)))];
        return wrapTable(table({
          head: keys, rows: value.map((v) => keys.map((k) => generic(v[k], depth + 1))), rowHeaders: false,
        }));
      }
      return h('ul', null, value.map((v) => h('li', null, generic(v, depth + 1))));
    }
    return h('dl', { class: 'kv' }, Object.entries(value).map(([k, v]) =>
      h('div', null, h('dt', null, k.replace(/_/g, ' ')), h('dd', null, generic(v, depth + 1)))));
  }

  function renderGeneric(name, value) {
    const panel = $(`${name}-panel`);
    panel.hidden = !value;
    const body = $(name === 'migration' ? 'migration-body' : name);
    fill(body, value ? generic(value) : '');
  }

  // The kill switch (GET /migration): whether the migration is halted, and where each versioned
  // route goes. The button halts a running migration and resumes a halted one.
  function renderMigration(m) {
    const panel = $('migration-panel');
    panel.hidden = !m;
    if (!m) return;
    const halted = m.halted === true;
    const routes = Array.isArray(m.routes) ? m.routes : [];
    fill($('migration-body'),
      h('p', null, halted
        ? [badge('bad', '■', 'halted'), ` since `, timeEl(m.since), ` by ${m.by || '?'}`,
          m.reason ? ` (${m.reason})` : '', ': every versioned route serves its stable version.']
        : [badge('good', '▶', 'running'), ' Routes follow their weights, pins and rollbacks.']),
      routes.length ? wrapTable(table({
        caption: 'Versioned routes and their stable version',
        captionHidden: true,
        stack: true,
        head: ['Route', 'Default', 'Stable', 'Pinned by rollback', 'Halted to'],
        rows: routes.map((r) => [r.route, r.default_version || '—', r.stable_version || '—',
          r.pinned_version || '—', r.halted_to || '—']),
      })) : h('p', { class: 'muted' }, 'No versioned route.'));
    const button = $('halt-button');
    button.textContent = halted ? 'Resume migration…' : 'Halt migration…';
    button.dataset.action = halted ? 'resume' : 'halt';
  }

  // ---------------------------------------------------------------------------------------------
  // Rollback executions and alerts

  const executionEls = new Map();  // id -> {details, summary, body}
  const executionToggled = new Set();

  const STEP_BADGES = {
    pending: ['muted', '○', 'pending'],
    running: ['warn', '↻', 'running'],
    succeeded: ['good', '✓', 'succeeded'],
    failed: ['bad', '✕', 'failed'],
    skipped: ['muted', '–', 'skipped'],
  };

  function statusBadge(status) {
    const [kind, sym, text] = STEP_BADGES[status] || ['unknown', '?', status || 'unknown'];
    return badge(kind, sym, text);
  }

  function renderRollback(rollback) {
    const panel = $('rollback-panel');
    panel.hidden = !rollback;
    if (!rollback) return;
    const executions = Array.isArray(rollback.executions) ? rollback.executions : [];
    const container = $('executions');
    if (!executions.length) {
      executionEls.clear();
      fill(container, h('p', { class: 'muted' }, 'No rollback has run.'));
    } else {
      const order = executions.map((e, i) => executionEl(e, i === 0));
      const seen = new Set(executions.map((e) => e.id));
      for (const id of [...executionEls.keys()]) if (!seen.has(id)) executionEls.delete(id);
      const current = [...container.children];
      if (!(current.length === order.length && current.every((el, i) => el === order[i]))) {
        fill(container, ...order);
      }
    }
    const alerts = Array.isArray(rollback.alerts) ? rollback.alerts.slice(0, MAX_ALERT_ROWS) : [];
    fill($('alerts'), alerts.length ? table({
      caption: 'Alertmanager notifications, newest first',
      captionHidden: true,
      stack: true,
      head: ['Received', 'Alert', 'Status', 'Result', 'Routes'],
      rowHeaders: false,
      rows: alerts.map((a) => [
        timeEl(a.received_at),
        h('span', { title: a.fingerprint || '' }, a.alertname || '—'),
        a.status || '—',
        a.result || '—',
        Array.isArray(a.routes) && a.routes.length
          ? a.routes.map((r) => `${r.route}: ${r.outcome}${r.execution_id ? ` (${r.execution_id})` : ''}`).join('; ')
          : '—',
      ]),
    }) : h('p', { class: 'muted' }, 'No alerts received.'));
  }

  function executionEl(e, newest) {
    let entry = executionEls.get(e.id);
    if (!entry) {
      const summary = h('summary');
      const body = h('div', { class: 'exec-body' });
      const details = h('details', { class: 'execution', id: idFor('exec', e.id), dataset: { id: e.id } }, summary, body);
      // The newest execution starts open, so its steps show without a click.
      details.open = newest;
      details.addEventListener('toggle', () => executionToggled.add(e.id));
      entry = { details, summary, body, key: '' };
      executionEls.set(e.id, entry);
    }
    const key = JSON.stringify(e);
    if (entry.key === key) return entry.details;
    entry.key = key;
    entry.details.dataset.status = e.status || '';
    const took = between(e.started_at, e.finished_at);
    const running = e.status === 'running';
    fill(entry.summary,
      statusBadge(e.status), ' ',
      h('strong', null, `Route ${e.route}`), ' · ',
      `trigger ${e.trigger && e.trigger.kind ? e.trigger.kind : '?'}`, ' · started ', timeEl(e.started_at), ' · ',
      running ? 'running' : `took ${formatDuration(took)}`, ' · ',
      h('code', { class: 'exec-id' }, e.id));
    const t = e.trigger || {};
    const labels = t.alert && t.alert.labels ? Object.entries(t.alert.labels).map(([k, v]) => `${k}=${v}`).join(', ') : '';
    const steps = Array.isArray(e.steps) ? e.steps : [];
    fill(entry.body,
      h('p', null, h('strong', null, 'Reason: '), t.reason || '—'),
      labels ? h('p', null, h('strong', null, 'Alert labels: '), labels) : null,
      h('p', null, h('strong', null, 'Started: '), timeEl(e.started_at),
        h('strong', null, ' Finished: '), e.finished_at ? timeEl(e.finished_at) : 'not yet'),
      wrapTable(table({
        caption: `Steps of execution ${e.id}`,
        captionHidden: true,
        className: 'steps',
        stack: true,
        head: ['#', 'Step', 'Status', 'Attempts', 'Started', 'Took', 'Log'],
        rowHeaders: false,
        rows: steps.map((s, i) => [
          String(i + 1),
          h('code', null, s.type),
          statusBadge(s.status),
          String(s.attempts ?? 0),
          timeEl(s.started_at),
          formatDuration(between(s.started_at, s.finished_at)),
          Array.isArray(s.log) && s.log.length ? h('ul', { class: 'log' }, s.log.map((l) => h('li', null, l))) : '—',
        ]),
      })),
      Array.isArray(e.log) && e.log.length
        ? [h('h4', { class: 'subhead' }, 'Execution log'), h('ul', { class: 'log' }, e.log.map((l) => h('li', null, l)))]
        : null);
    return entry.details;
  }

  // ---------------------------------------------------------------------------------------------
  // Admin actions

  function renderActions(actions) {
    const panel = $('actions-panel');
    panel.hidden = !actions;
    if (!actions) return;
    const list = Array.isArray(actions.actions) ? actions.actions.slice(0, MAX_ACTION_ROWS) : [];
    fill($('actions'), list.length ? table({
      caption: 'Mutating admin calls, newest first',
      captionHidden: true,
      stack: true,
      head: ['Time', 'Request', 'Status', 'Client', 'From', 'Summary'],
      rowHeaders: false,
      rows: list.map((a) => {
        const ok = Number(a.status) >= 200 && Number(a.status) < 300;
        return [
          timeEl(a.time),
          h('code', null, `${a.method || ''} ${a.path || ''}`),
          { class: ok ? null : 'bad-text', content: [h('span', { 'aria-hidden': 'true' }, ok ? '✓ ' : '✕ '), String(a.status ?? '—')] },
          a.client || '—',
          a.remote || '—',
          a.summary || '',
        ];
      }),
    }) : h('p', { class: 'muted' }, 'No admin action since start.'));
  }

  // ---------------------------------------------------------------------------------------------
  // Start

  function start() {
    setUpDialogs();
    setUpPurge();
    $('halt-button').addEventListener('click', () => act($('halt-button').dataset.action === 'resume' ? {
      title: 'Resume the migration',
      text: 'Lift the halt: every versioned route follows its own weights, pins and rollbacks again.',
      path: '/migration/resume',
      body: {},
    } : {
      title: 'Halt the migration',
      text: 'Send every versioned route to its stable version at once (the version its rollback ' +
        'would pin), until the migration is resumed.',
      path: '/migration/halt',
      body: { reason: 'halted from the migration console' },
      reason: 'halted from the migration console',
      withReason: (reason, body) => ({ ...body, reason: reason || body.reason }),
    }));
    document.addEventListener('click', (e) => {
      const link = e.target instanceof Element ? e.target.closest('a.exec-link') : null;
      if (!link) return;
      const target = document.getElementById(link.getAttribute('href').slice(1));
      if (target && target.tagName === 'DETAILS') target.open = true;
    });
    document.addEventListener('visibilitychange', () => {
      if (document.hidden) {
        clearTimeout(timer);
        timer = null;
        $('polling-state').textContent = '(paused while this tab is hidden)';
      } else {
        poll();
      }
    });
    renderTokenState();
    poll();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
