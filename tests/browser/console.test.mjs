// The migration console in a real browser: Debian's headless Chromium, driven by puppeteer-core,
// against a running sidecar (route `api`: v1 on cluster v1, v2 split v1 10 / v2 90, a rollback
// plan with a guard on v2) and its v1 and v2 test upstreams. tests/e2e/console_test.cc starts all
// of that and runs this script; it can also be run by hand against such a setup:
//
//   ADMIN_URL=http://127.0.0.1:9901 DATA_URL=http://127.0.0.1:8080 TOKEN=change-me \
//   V2_CONTROL_URL=http://127.0.0.1:9002 ARTIFACT_DIR=/tmp/console node console.test.mjs
//
// Scenario: (a) read-only: the page shows the route and its split, and no action succeeds
// without the token: not from the page (the server answers 401 and the page says so), not by a
// direct POST from the page, not from another origin (form post, no-cors fetch, CORS fetch);
// (b) with the token, v2's slider to 100 % with the keyboard, applied and confirmed: /routes
// shows 100/0 and so does the page; (c) v2 breaks, traffic flows until the guard trips: the page
// shows the route rolled back and the execution with its steps; (d) resume from the page;
// (f) halt the whole migration from the page (every route to its stable version; /migration
// says so, and so does the page), then resume it; (e) screenshots at 1280x800 and 420x900 in ARTIFACT_DIR; finally the actions are in /actions,
// recorded as the console's, polling pauses while the tab is hidden, and a banner shows while
// the admin listener cannot be reached.
// Every wait is bounded; the whole run stops itself after 58 s; exit code 0 only on success.

import fs from 'node:fs';
import path from 'node:path';
import puppeteer from 'puppeteer-core';

const started = Date.now();
const TOTAL_BUDGET_MS = 58_000;

function env(name, fallback) {
  const value = process.env[name] ?? fallback;
  if (value === undefined || value === '') {
    console.error(`console test: environment variable ${name} is required`);
    process.exit(2);
  }
  return value;
}

const ADMIN_URL = env('ADMIN_URL').replace(/\/+$/, '');
const DATA_URL = env('DATA_URL').replace(/\/+$/, '');
const TOKEN = env('TOKEN');
const V2_CONTROL_URL = env('V2_CONTROL_URL').replace(/\/+$/, '');
const ARTIFACT_DIR = env('ARTIFACT_DIR');
const CHROMIUM = env('CHROMIUM', '/usr/bin/chromium');
const ROUTE = 'api';

class TestFailure extends Error {}

let browser = null;
let currentStep = 'start';

// The whole run is bounded: past the budget the browser is killed and the test fails.
const watchdog = setTimeout(() => {
  console.error(`console test: FAILED: over ${TOTAL_BUDGET_MS / 1000} s (in step: ${currentStep})`);
  try { browser?.process()?.kill('SIGKILL'); } catch (e) { /* already gone */ }
  process.exit(3);
}, TOTAL_BUDGET_MS);

function log(message) {
  console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s] ${message}`);
}

function check(condition, message) {
  if (!condition) throw new TestFailure(message);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Polls `fn` (async) every `interval` ms until it returns a truthy value; fails after `timeout`.
async function waitUntil(what, fn, { timeout = 8000, interval = 100 } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new TestFailure(`timed out after ${timeout} ms waiting for ${what}` +
        (last instanceof Error ? ` (last error: ${last.message})` : ''));
    }
    await sleep(interval);
  }
}

async function fetchWithTimeout(url, options = {}, timeout = 3000) {
  const controller = new AbortController();
  const t = setTimeout(() => controller.abort(), timeout);
  try {
    return await fetch(url, { ...options, signal: controller.signal });
  } finally {
    clearTimeout(t);
  }
}

async function adminJson(p) {
  const r = await fetchWithTimeout(`${ADMIN_URL}${p}`);
  check(r.ok, `GET ${p} answered ${r.status}`);
  return r.json();
}

async function v2Weights() {
  const routes = await adminJson('/routes');
  const route = routes.routes.find((r) => r.name === ROUTE);
  check(route, `/routes has no route ${ROUTE}`);
  const w = {};
  for (const s of route.versions.v2.split) w[s.cluster] = s.weight;
  return { weights: w, overridden: route.versions.v2.overridden, pinned: route.pinned_version };
}

async function rollbackState() {
  const rb = await adminJson('/rollback');
  return rb.routes[ROUTE];
}

async function step(name, fn) {
  currentStep = name;
  const t0 = Date.now();
  log(`${name} ...`);
  await fn();
  log(`${name}: ok (${Date.now() - t0} ms)`);
}

// ------------------------------------------------------------------------------------------------
// Page helpers

const sel = {
  card: `article.route-card[data-route="${ROUTE}"]`,
  editor: `form.weights[data-route="${ROUTE}"][data-version="v2"]`,
  range: (cluster) => `form.weights[data-route="${ROUTE}"][data-version="v2"] input.weight-range[data-cluster="${cluster}"]`,
  number: (cluster) => `form.weights[data-route="${ROUTE}"][data-version="v2"] input.weight-number[data-cluster="${cluster}"]`,
  apply: `form.weights[data-route="${ROUTE}"][data-version="v2"] button[data-action="apply"]`,
  trigger: `button[data-action="trigger"][data-route="${ROUTE}"]`,
  resume: `button[data-action="resume"][data-route="${ROUTE}"]`,
  state: `article.route-card[data-route="${ROUTE}"] .route-state-value`,
  v2Split: `article.route-card[data-route="${ROUTE}"] section.version[data-version="v2"] table.split`,
};

async function resultSeq(page) {
  return page.$eval('#result', (el) => Number(el.dataset.seq || 0));
}

// Waits for a new message in the result area; returns {status, text}.
async function nextResult(page, before, what) {
  await page.waitForFunction((n) => Number(document.getElementById('result').dataset.seq || 0) > n,
    { timeout: 8000 }, before).catch(() => { throw new TestFailure(`no result shown for ${what}`); });
  return page.$eval('#result', (el) => {
    const code = el.querySelector('.status-code');
    return { status: code ? Number(code.dataset.status) : null, text: el.textContent };
  });
}

async function dialogOpen(page, id) {
  await page.waitForSelector(`#${id}[open]`, { visible: true, timeout: 5000 })
    .catch(() => { throw new TestFailure(`dialog #${id} did not open`); });
}

async function enterToken(page, token) {
  await dialogOpen(page, 'token-dialog');
  await page.type('#token-input', token);
  await page.keyboard.press('Enter');
  await page.waitForSelector('#token-dialog:not([open])', { timeout: 3000 });
}

async function confirmDialog(page) {
  await dialogOpen(page, 'confirm-dialog');
  const request = await page.$eval('#confirm-request', (el) => el.textContent);
  await page.click('#confirm-ok');
  await page.waitForSelector('#confirm-dialog:not([open])', { timeout: 3000 });
  return request;
}

async function tokenState(page) {
  return page.$eval('#token-state', (el) => el.textContent.trim());
}

// Runs one action from the page with `token` typed when asked; returns the server's status.
async function actWithToken(page, selector, token, what) {
  const before = await resultSeq(page);
  await page.click(selector);
  await enterToken(page, token);
  const request = await confirmDialog(page);
  const result = await nextResult(page, before, what);
  return { ...result, request };
}

async function screenshot(page, name, width, height) {
  await page.setViewport({ width, height });
  await sleep(200);  // one layout pass at the new size
  const file = path.join(ARTIFACT_DIR, name);
  await page.screenshot({ path: file, type: 'png' });
  const size = fs.statSync(file).size;
  check(size > 10_000, `screenshot ${file} is only ${size} bytes`);
  log(`screenshot ${file} (${width}x${height}, ${Math.round(size / 1024)} KiB)`);
}

// ------------------------------------------------------------------------------------------------

async function main() {
  fs.mkdirSync(ARTIFACT_DIR, { recursive: true });
  check(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing (apt-get install chromium)`);

  // The sidecar as the test expects it: v2 split 10/90, route active, not pinned.
  const initial = await v2Weights();
  check(initial.weights.v1 === 10 && initial.weights.v2 === 90 && !initial.overridden,
    `unexpected starting split ${JSON.stringify(initial)}`);
  check((await rollbackState()).state === 'active', 'route api does not start active');

  browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run',
      '--no-default-browser-check', '--disable-extensions', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'],
    protocolTimeout: 15_000,
  });
  const page = await browser.newPage();
  page.setDefaultTimeout(8000);
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    // The optional endpoints (/migration, /rollout, /shadow, ...) answer 404 when absent.
    if (/status of 404/.test(m.text())) return;
    // The deliberate 401s of the read-only checks.
    if (/status of 401/.test(m.text())) return;
    // The offline step's failed polls.
    if (/ERR_INTERNET_DISCONNECTED/.test(m.text())) return;
    problems.push(`console error: ${m.text()}`);
  });
  await page.evaluateOnNewDocument(() => {
    window.cspViolations = [];
    document.addEventListener('securitypolicyviolation',
      (e) => window.cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  await page.setViewport({ width: 1280, height: 800 });

  await step('(a) the page loads read-only and shows the split', async () => {
    const response = await page.goto(`${ADMIN_URL}/ui`, { waitUntil: 'load', timeout: 10_000 });
    check(response.status() === 200, `GET /ui answered ${response.status()}`);
    const csp = response.headers()['content-security-policy'] || '';
    check(/script-src 'self'/.test(csp) && !/unsafe-inline/.test(csp),
      `GET /ui has no strict Content-Security-Policy: "${csp}"`);
    await page.waitForSelector(sel.v2Split, { timeout: 8000 });
    const split = await page.$eval(sel.v2Split, (t) => [...t.tBodies[0].rows].map((r) =>
      [...r.cells].map((c) => c.textContent.trim())));
    const row = (cluster) => split.find((r) => r[0] === cluster) || [];
    check(/^10\b/.test(row('v1')[2] || '') && /^90\b/.test(row('v2')[2] || ''),
      `the page does not show v1 10 / v2 90: ${JSON.stringify(split)}`);
    check(await page.$eval(sel.range('v2'), (el) => el.value) === '90', 'v2 slider is not at 90');
    check(await tokenState(page) === 'read-only', 'token state is not read-only');
    const state = await page.$eval(sel.state, (el) => el.dataset.state);
    check(state === 'active', `route state on the page is ${state}`);
    check(await page.$eval('#last-update', (el) => el.textContent) !== 'never', 'no last-update time');
    // Every control has a label, every table header a scope, and no markup carries a style.
    const markup = await page.evaluate(() => ({
      unlabelled: [...document.querySelectorAll('input, select, textarea')]
        .filter((el) => el.labels.length === 0 && !el.getAttribute('aria-label')).map((el) => el.id || el.outerHTML),
      unscoped: document.querySelectorAll('th:not([scope])').length,
      styled: document.querySelectorAll('[style]').length,
      divButtons: document.querySelectorAll('[onclick], div[role="button"]').length,
    }));
    check(markup.unlabelled.length === 0, `controls without a label: ${markup.unlabelled.join(', ')}`);
    check(markup.unscoped === 0 && markup.styled === 0 && markup.divButtons === 0,
      `markup: ${JSON.stringify(markup)}`);
  });

  await step('(a) without the token no action succeeds', async () => {
    // Cancelling the token dialog sends nothing.
    let before = await resultSeq(page);
    await page.click(sel.apply);
    await dialogOpen(page, 'token-dialog');
    await page.click('#token-cancel');
    const cancelled = await nextResult(page, before, 'a cancelled token dialog');
    check(cancelled.status === null && /nothing was sent/.test(cancelled.text),
      `cancelling the token dialog: ${cancelled.text}`);

    // A wrong token: the server answers 401, the page shows it and forgets the token.
    await page.focus(sel.range('v2'));
    await page.keyboard.press('End');
    const weights = await actWithToken(page, sel.apply, 'not-the-token', 'set weights');
    check(weights.status === 401, `set weights with a wrong token: ${weights.status} ${weights.text}`);
    check(/"v2": 100/.test(weights.request), `the confirmation did not show the change: ${weights.request}`);
    check(await tokenState(page) === 'read-only', 'the page kept a token the server refused');
    const trigger = await actWithToken(page, sel.trigger, 'still-not-the-token', 'trigger rollback');
    check(trigger.status === 401, `trigger with a wrong token: ${trigger.status}`);
    if (await page.$('#cache-panel:not([hidden])')) {
      await page.type('#purge-value', '/api/');
      const purge = await actWithToken(page, '#purge-button', 'nope', 'purge');
      check(purge.status === 401, `purge with a wrong token: ${purge.status}`);
    }
    if (await page.$('#migration-panel:not([hidden])')) {
      const halt = await actWithToken(page, '#halt-button', 'nope', 'halt');
      check(halt.status === 401, `halt with a wrong token: ${halt.status}`);
    }
    // The token is not kept anywhere but session storage, and not at all after a 401.
    const stored = await page.evaluate(() => ({
      session: Object.keys(sessionStorage).length, local: Object.keys(localStorage).length,
      url: location.href,
    }));
    check(stored.session === 0 && stored.local === 0, `storage after 401s: ${JSON.stringify(stored)}`);
    check(!/not-the-token|nope/.test(stored.url), 'a token ended up in the URL');

    // Direct POSTs from the page without Authorization.
    const direct = await page.evaluate(async () => {
      const out = {};
      const calls = {
        '/routes/weights': { route: 'api', version: 'v2', weights: { v2: 100 } },
        '/rollback/trigger': { route: 'api', reason: 'no token' },
        '/rollback/resume': { route: 'api' },
        '/cache/purge': { prefix: '/' },
      };
      for (const [p, body] of Object.entries(calls)) {
        const r = await fetch(p, {
          method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
        });
        out[p] = r.status;
      }
      return out;
    });
    for (const [p, status] of Object.entries(direct)) {
      check(status === 401 || (p === '/cache/purge' && status === 404),
        `POST ${p} without a token answered ${status}`);
    }
    const after = await v2Weights();
    check(after.weights.v1 === 10 && after.weights.v2 === 90 && !after.overridden,
      `weights changed without a token: ${JSON.stringify(after)}`);
    check((await rollbackState()).state === 'active', 'the route changed state without a token');
    // Put the slider back for the next step.
    before = await resultSeq(page);
    await page.click(`${sel.editor} button[data-action="discard"]`);
  });

  await step('(a) another origin cannot act, even with the token', async () => {
    // A page of another origin (the data listener serves it; only the port differs).
    const other = await browser.newPage();
    try {
      await other.goto(`${DATA_URL}/`, { waitUntil: 'load', timeout: 8000 });
      const outcome = await other.evaluate(async (admin, token) => {
        const results = {};
        const body = JSON.stringify({ route: 'api', version: 'v2', weights: { v2: 100 } });
        // no-cors: the request goes out (a "simple" one) without Authorization.
        try {
          const r = await fetch(`${admin}/routes/weights`, { method: 'POST', mode: 'no-cors', body });
          results.noCors = r.type;
        } catch (e) { results.noCors = `error: ${e.message}`; }
        // CORS with the token: the preflight gets no Access-Control-Allow-* answer.
        try {
          const r = await fetch(`${admin}/routes/weights`, {
            method: 'POST', body,
            headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
          });
          results.cors = `status ${r.status}`;
        } catch (e) { results.cors = `blocked: ${e.message}`; }
        // A plain form post in a frame (text/plain, a JSON-looking body).
        await new Promise((resolve) => {
          const frame = document.createElement('iframe');
          frame.name = 'sink';
          document.body.append(frame);
          const form = document.createElement('form');
          form.method = 'POST';
          form.action = `${admin}/routes/weights`;
          form.enctype = 'text/plain';
          form.target = 'sink';
          const input = document.createElement('input');
          input.name = '{"route":"api","version":"v2","weights":{"v2":100},"x":"';
          input.value = '"}';
          form.append(input);
          document.body.append(form);
          frame.addEventListener('load', resolve, { once: true });
          setTimeout(resolve, 3000);
          form.submit();
        });
        return results;
      }, ADMIN_URL, TOKEN);
      check(/^blocked/.test(outcome.cors), `a cross-origin CORS POST was not blocked: ${outcome.cors}`);
      log(`cross-origin attempts: ${JSON.stringify(outcome)}`);
    } finally {
      await other.close();
    }
    const after = await v2Weights();
    check(after.weights.v1 === 10 && after.weights.v2 === 90 && !after.overridden,
      `another origin changed the weights: ${JSON.stringify(after)}`);
    await page.bringToFront();
  });

  await step('(b) with the token, v2 to 100 % with the slider', async () => {
    await page.click('#token-button');
    await enterToken(page, TOKEN);
    check(await tokenState(page) === 'operator', 'token state is not operator after entering it');
    check(await page.evaluate(() => Object.keys(localStorage).length) === 0, 'something went to localStorage');
    // Keyboard: focus v2's slider, End moves it to 100; v1 follows to 0.
    await page.focus(sel.range('v2'));
    await page.keyboard.press('End');
    const values = await page.evaluate((s) => ({
      v1: document.querySelector(s.r1).value, v2: document.querySelector(s.r2).value,
      n2: document.querySelector(s.n2).value,
    }), { r1: sel.range('v1'), r2: sel.range('v2'), n2: sel.number('v2') });
    check(values.v1 === '0' && values.v2 === '100' && values.n2 === '100',
      `sliders after End: ${JSON.stringify(values)}`);
    const before = await resultSeq(page);
    await page.click(sel.apply);
    const request = await confirmDialog(page);
    check(/POST \/routes\/weights/.test(request) && /"v1": 0/.test(request) && /"v2": 100/.test(request),
      `confirmation shows ${request}`);
    const result = await nextResult(page, before, 'set weights');
    check(result.status === 200, `set weights answered ${result.status}: ${result.text}`);
    const after = await v2Weights();
    check(after.weights.v1 === 0 && after.weights.v2 === 100 && after.overridden,
      `/routes after the change: ${JSON.stringify(after)}`);
    await page.waitForFunction((s) => {
      const t = document.querySelector(s);
      if (!t) return false;
      const rows = [...t.tBodies[0].rows].map((r) => [...r.cells].map((c) => c.textContent.trim()));
      const v2 = rows.find((r) => r[0] === 'v2');
      const v1 = rows.find((r) => r[0] === 'v1');
      return v2 && v1 && /^100\b/.test(v2[2]) && /^0\b/.test(v1[2]);
    }, { timeout: 6000 }, sel.v2Split).catch(() => { throw new TestFailure('the page does not show 100/0'); });
  });

  await step('(c) v2 breaks: the guard rolls the route back and the page shows it', async () => {
    const fail = await fetchWithTimeout(`${V2_CONTROL_URL}/control/fail?status=503&count=-1`);
    check(fail.ok, `the v2 upstream's control API answered ${fail.status}`);
    let sent = 0;
    let errors = 0;
    await waitUntil('the guard to roll the route back', async () => {
      const batch = [];
      for (let i = 0; i < 10; i += 1) {
        sent += 1;
        batch.push(fetchWithTimeout(`${DATA_URL}/orders/${sent}`, {
          headers: { 'X-API-Version': 'v2', 'X-User-Id': `user-${sent}` },
        }).then((r) => { if (r.status >= 500) errors += 1; return r.arrayBuffer(); }).catch(() => { errors += 1; }));
      }
      await Promise.all(batch);
      const st = await rollbackState();
      return st.state === 'rolled_back' || st.state === 'rollback_failed' ? st : (sent >= 600 ? null : false);
    }, { timeout: 15_000, interval: 50 });
    log(`sent ${sent} v2 requests (${errors} errors) until the guard tripped`);
    const st = await rollbackState();
    check(st.state === 'rolled_back', `route state after the guard: ${st.state}`);
    await fetchWithTimeout(`${V2_CONTROL_URL}/control/recover`);
    await page.waitForSelector(`${sel.state}[data-state="rolled_back"]`, { timeout: 6000 })
      .catch(() => { throw new TestFailure('the page does not show the route rolled back'); });
    const exec = await page.waitForFunction((id) => {
      const d = [...document.querySelectorAll('details.execution')].find((x) => x.dataset.id === id);
      if (!d || !d.open || d.dataset.status !== 'succeeded') return null;
      const rows = [...d.querySelectorAll('table.steps tbody tr')];
      return {
        summary: d.querySelector('summary').textContent,
        steps: rows.map((r) => [...r.cells].map((c) => c.textContent.trim())),
      };
    }, { timeout: 6000 }, st.execution_id).then((h) => h.jsonValue())
      .catch(() => { throw new TestFailure(`the page does not show execution ${st.execution_id} with its steps`); });
    check(/guard/.test(exec.summary), `execution summary: ${exec.summary}`);
    check(exec.steps.length >= 1 && exec.steps[0][1] === 'set_weights' && /succeeded/.test(exec.steps[0][2]),
      `execution steps on the page: ${JSON.stringify(exec.steps)}`);
    log(`execution ${st.execution_id}: ${exec.summary}`);
  });

  await step('(e) screenshots', async () => {
    await page.evaluate(() => window.scrollTo(0, 0));
    await screenshot(page, 'console-1280x800.png', 1280, 800);
    await screenshot(page, 'console-420x900.png', 420, 900);
    await page.setViewport({ width: 1280, height: 800 });
    await page.screenshot({ path: path.join(ARTIFACT_DIR, 'console-full.png'), fullPage: true });
  });

  await step('(d) resume from the page', async () => {
    const before = await resultSeq(page);
    await page.waitForSelector(`${sel.resume}:not([hidden])`, { timeout: 4000 });
    await page.click(sel.resume);
    const request = await confirmDialog(page);
    check(/POST \/rollback\/resume/.test(request), `confirmation shows ${request}`);
    const result = await nextResult(page, before, 'resume');
    check(result.status === 200, `resume answered ${result.status}: ${result.text}`);
    check((await rollbackState()).state === 'active', 'the route is not active after resume');
    const w = await v2Weights();
    check(w.weights.v1 === 10 && w.weights.v2 === 90 && !w.overridden,
      `weights after resume: ${JSON.stringify(w)}`);
    await page.waitForSelector(`${sel.state}[data-state="active"]`, { timeout: 6000 })
      .catch(() => { throw new TestFailure('the page does not show the route active again'); });
  });

  await step('(f) halt the migration from the page, then resume it', async () => {
    await page.waitForSelector('#halt-button:not([hidden])', { timeout: 6000 })
      .catch(() => { throw new TestFailure('the page shows no Halt button'); });
    check(await page.$eval('#halt-button', (el) => el.dataset.action) === 'halt',
      'the kill switch does not offer to halt a running migration');
    let before = await resultSeq(page);
    await page.click('#halt-button');
    let request = await confirmDialog(page);
    check(/POST \/migration\/halt/.test(request), `confirmation shows ${request}`);
    let result = await nextResult(page, before, 'halt');
    check(result.status === 200, `halt answered ${result.status}: ${result.text}`);
    const halted = await adminJson('/migration');
    check(halted.halted === true, `/migration after halt: ${JSON.stringify(halted)}`);
    const api = (halted.routes || []).find((r) => r.route === ROUTE);
    check(api && api.halted_to === 'v1', `route ${ROUTE} during the halt: ${JSON.stringify(api)}`);
    await page.waitForFunction(() => document.getElementById('halt-button').dataset.action === 'resume',
      { timeout: 6000 }).catch(() => { throw new TestFailure('the page does not show the halt'); });
    await page.waitForFunction(() => /halted/.test(document.getElementById('migration-body').textContent),
      { timeout: 6000 }).catch(() => { throw new TestFailure('the migration panel does not say halted'); });
    await screenshot(page, 'console-halted.png', 1280, 800);

    before = await resultSeq(page);
    await page.click('#halt-button');
    request = await confirmDialog(page);
    check(/POST \/migration\/resume/.test(request), `confirmation shows ${request}`);
    result = await nextResult(page, before, 'resume migration');
    check(result.status === 200, `resume answered ${result.status}: ${result.text}`);
    const running = await adminJson('/migration');
    check(running.halted === false, `/migration after resume: ${JSON.stringify(running)}`);
    const w = await v2Weights();
    check(w.weights.v1 === 10 && w.weights.v2 === 90 && !w.pinned,
      `weights after the migration resumed: ${JSON.stringify(w)}`);
  });

  await step('the actions are recorded as the console\'s', async () => {
    const { actions } = await adminJson('/actions');
    check(Array.isArray(actions), '/actions has no list');
    const weights = actions.find((a) => a.path === '/routes/weights' && a.status === 200);
    check(weights && weights.client === 'console' && weights.method === 'POST',
      `/actions has no successful weight change by the console: ${JSON.stringify(actions.slice(0, 5))}`);
    const resume = actions.find((a) => a.path === '/rollback/resume' && a.status === 200);
    check(resume && resume.client === 'console', 'resume is not recorded as the console\'s');
    const halt = actions.find((a) => a.path === '/migration/halt' && a.status === 200);
    check(halt && halt.client === 'console', 'the halt is not recorded as the console\'s');
    check(actions.some((a) => a.status === 401), 'the refused calls are not recorded');
    await page.waitForFunction(() => /routes\/weights/.test(document.getElementById('actions').textContent),
      { timeout: 5000 }).catch(() => { throw new TestFailure('the page does not list the actions'); });
  });

  await step('polling pauses while the tab is hidden', async () => {
    const other = await browser.newPage();
    try {
      await other.bringToFront();
      const hidden = await page.evaluate(() => document.visibilityState);
      if (hidden !== 'hidden') {
        log(`skipped: a background tab is "${hidden}" in this Chromium`);
        return;
      }
      const at = await page.evaluate(() => Number(document.body.dataset.polls));
      await sleep(4500);
      const later = await page.evaluate(() => Number(document.body.dataset.polls));
      check(later <= at + 1, `the hidden tab kept polling (${at} -> ${later})`);
      await page.bringToFront();
      await page.waitForFunction((n) => Number(document.body.dataset.polls) > n, { timeout: 4000 }, later)
        .catch(() => { throw new TestFailure('polling did not resume when the tab came back'); });
    } finally {
      await other.close();
    }
  });

  await step('a banner says when the admin listener cannot be reached', async () => {
    await page.setOfflineMode(true);
    try {
      await page.waitForSelector('#banner:not([hidden])', { visible: true, timeout: 6000 })
        .catch(() => { throw new TestFailure('no banner while the admin listener is unreachable'); });
      const text = await page.$eval('#banner', (el) => el.textContent);
      check(/cannot be reached/.test(text), `banner: ${text}`);
    } finally {
      await page.setOfflineMode(false);
    }
    await page.waitForSelector('#banner[hidden]', { timeout: 6000 })
      .catch(() => { throw new TestFailure('the banner stayed once the listener was back'); });
  });

  const csp = await page.evaluate(() => window.cspViolations);
  check(csp.length === 0, `Content-Security-Policy violations: ${csp.join('; ')}`);
  check(problems.length === 0, `the page reported errors:\n  ${problems.join('\n  ')}`);
}

try {
  await main();
  log(`console test: PASSED in ${((Date.now() - started) / 1000).toFixed(1)} s; screenshots in ${ARTIFACT_DIR}`);
  process.exitCode = 0;
} catch (e) {
  console.error(`console test: FAILED in step "${currentStep}": ${e instanceof TestFailure ? e.message : e.stack}`);
  if (browser) {
    try {
      const pages = await browser.pages();
      const last = pages[pages.length - 1];
      if (last) await last.screenshot({ path: path.join(ARTIFACT_DIR, 'failure.png'), fullPage: true });
      console.error(`console test: page at failure saved to ${path.join(ARTIFACT_DIR, 'failure.png')}`);
    } catch (err) { /* the browser may be gone */ }
  }
  process.exitCode = 1;
} finally {
  if (browser) {
    await Promise.race([browser.close(), sleep(5000)]).catch(() => {});
    try { browser.process()?.kill('SIGKILL'); } catch (e) { /* closed */ }
  }
  clearTimeout(watchdog);
}
