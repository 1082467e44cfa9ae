// Relais live dashboard. Plain browser JavaScript, no build step; the graphql-ws browser build
// (served at /dashboard/graphql-ws.js) defines the global `graphqlWs`.
'use strict';

(() => {
  const STORAGE_KEY = 'relais.dashboard.auth';
  const BUCKET_MS = 5000;
  const BUCKETS = 60; // 5 minutes of 5-second bars
  const SETTLE_MS = 3000; // re-read the exact figures once traffic has been quiet this long
  const FORBIDDEN = 4403;

  const $ = (id) => document.getElementById(id);

  // ---- exact money: strings from the API, arithmetic in integer micro-units (6 decimals) ----
  const MICRO = 1000000n;
  function toMicro(text) {
    const m = /^(-?)(\d+)(?:\.(\d{1,6}))?$/.exec(String(text));
    if (!m) throw new Error(`not a money amount: ${text}`);
    const value = BigInt(m[2]) * MICRO + BigInt((m[3] || '').padEnd(6, '0'));
    return m[1] ? -value : value;
  }
  function fromMicro(value) {
    const sign = value < 0n ? '-' : '';
    const abs = value < 0n ? -value : value;
    return `${sign}${abs / MICRO}.${String(abs % MICRO).padStart(6, '0')}`;
  }
  const minMoney = (texts) => {
    const present = texts.filter((t) => t !== null && t !== undefined).map(toMicro);
    return present.length ? fromMicro(present.reduce((a, b) => (b < a ? b : a))) : null;
  };

  // Bytes are counts for display and the chart, not money: numbers are fine here.
  function formatBytes(n) {
    if (n < 1000) return `${n} B`;
    const units = ['kB', 'MB', 'GB', 'TB'];
    let v = n;
    let i = -1;
    while (v >= 1000 && i < units.length - 1) {
      v /= 1000;
      i++;
    }
    return `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
  }

  // ---- GraphQL documents ----
  const LOGIN = `mutation DashboardLogin($email: String!, $password: String!) {
    login(email: $email, password: $password) {
      __typename
      ... on MutationLoginSuccess { data { accessToken refreshToken user { email username } } }
      ... on Error { code message }
    }
  }`;
  const REFRESH = `mutation DashboardRefresh($refreshToken: String!) {
    refreshToken(refreshToken: $refreshToken) {
      __typename
      ... on MutationRefreshTokenSuccess { data { accessToken refreshToken } }
      ... on Error { code message }
    }
  }`;
  const LOGOUT = 'mutation DashboardLogout { logout }';
  const SNAPSHOT = `query DashboardSnapshot {
    balanceSummary { balance }
    dailyUsage(days: 1) { daily { date total } }
    keyUsage {
      global { remaining { daily weekly monthly } }
      keys { id name used { daily } limits { daily } remaining { daily weekly monthly } }
    }
  }`;
  const BALANCE = `subscription DashboardBalance {
    balanceChanged { balance transaction { id amount type subtypeLabel note createdAt } }
  }`;
  const USAGE = `subscription DashboardUsage {
    usageUpdated { apiKeyId product bytes cost remainingCredit at }
  }`;
  const KEYS = 'subscription DashboardKeys { keyChanged { change apiKeyId } }';

  // ---- state ----
  let auth = null; // { kind: 'session', accessToken, refreshToken, label } | { kind: 'apiKey', key, label }
  let client = null;
  let generation = 0; // bumps on every (re)start; callbacks of an older client are ignored
  let connectedOnce = false;
  let refreshTried = false;
  let snapshotInFlight = false;
  let balanceEventDuringSnapshot = false;
  let settleTimer = null;
  let chartTimer = null;
  const keys = new Map(); // id -> { id, name, spentToday, dailyLimit, canSpend, bytes }
  let todaySpent = null;
  let todayDate = null;
  const buckets = new Map(); // bucket index (time / BUCKET_MS) -> bytes

  function saveAuth() {
    try {
      if (auth) sessionStorage.setItem(STORAGE_KEY, JSON.stringify(auth));
      else sessionStorage.removeItem(STORAGE_KEY);
    } catch {
      // Storage can be unavailable (privacy mode); the page then keeps the credential in memory only.
    }
  }
  function loadAuth() {
    try {
      const saved = JSON.parse(sessionStorage.getItem(STORAGE_KEY) || 'null');
      if (saved && (saved.kind === 'session' || saved.kind === 'apiKey')) return saved;
    } catch {
      // ignore unreadable storage
    }
    return null;
  }

  async function postGraphQL(query, variables, headers = {}) {
    const res = await fetch('/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', ...headers },
      body: JSON.stringify({ query, variables }),
    });
    const body = await res.json().catch(() => null);
    if (!body) throw new Error(`The server answered ${res.status}.`);
    if (body.errors && body.errors.length) throw new Error(body.errors[0].message);
    return body.data;
  }

  const problemText = (err) =>
    Array.isArray(err) ? err.map((e) => e.message).join(' ') : err && err.message ? err.message : String(err);
  const isCloseEvent = (e) => e && typeof e === 'object' && 'code' in e && 'reason' in e;

  // ---- screens ----
  function setStatus(kind, text) {
    const el = $('status');
    el.hidden = false;
    el.className = kind;
    el.textContent = text;
  }

  function showLogin(message) {
    $('dashboard').hidden = true;
    $('who').hidden = true;
    $('status').hidden = true;
    $('logout').hidden = true;
    $('login').hidden = false;
    const error = $('login-error');
    error.textContent = message || '';
    error.hidden = !message;
  }

  function showDashboard() {
    $('login').hidden = true;
    $('login-error').hidden = true;
    $('dashboard').hidden = false;
    $('who').hidden = false;
    $('who').textContent = auth.label;
    $('logout').hidden = false;
  }

  function resetFigures() {
    keys.clear();
    buckets.clear();
    todaySpent = null;
    todayDate = null;
    $('balance').textContent = '…';
    $('last-change').textContent = '';
    $('today-spent').textContent = '…';
    $('keys-error').hidden = true;
    renderKeys();
    renderChart();
  }

  function renderKeys() {
    const body = $('keys').tBodies[0];
    const rows = [...keys.values()].map((k) => {
      const tr = document.createElement('tr');
      tr.dataset.keyId = k.id;
      const cells = [
        ['name', k.name],
        ['spent', k.spentToday ?? '…'],
        ['limit', k.dailyLimit ?? 'none'],
        ['can-spend', k.canSpend ?? '…'],
        ['bytes', formatBytes(k.bytes)],
      ];
      for (const [cls, text] of cells) {
        const td = document.createElement('td');
        td.className = cls;
        td.textContent = text; // names are user input: text only, never markup
        tr.append(td);
      }
      return tr;
    });
    body.replaceChildren(...rows);
  }

  function renderChart() {
    const svg = $('chart');
    const now = Math.floor(Date.now() / BUCKET_MS);
    for (const index of buckets.keys()) if (index <= now - BUCKETS) buckets.delete(index);
    let max = 0;
    let total = 0;
    for (const bytes of buckets.values()) {
      max = Math.max(max, bytes);
      total += bytes;
    }
    const width = 600 / BUCKETS;
    const bars = [];
    for (let i = 0; i < BUCKETS; i++) {
      const bytes = buckets.get(now - BUCKETS + 1 + i) || 0;
      const height = max ? Math.max(bytes ? 1 : 0, (bytes / max) * 112) : 0;
      const rect = document.createElementNS('http://www.w3.org/2000/svg', 'rect');
      rect.setAttribute('x', String(i * width + 0.5));
      rect.setAttribute('y', String(120 - height));
      rect.setAttribute('width', String(width - 1));
      rect.setAttribute('height', String(height));
      rect.setAttribute('data-bytes', String(bytes));
      const title = document.createElementNS('http://www.w3.org/2000/svg', 'title');
      title.textContent = formatBytes(bytes);
      rect.append(title);
      bars.push(rect);
    }
    svg.replaceChildren(...bars);
    $('chart-total').textContent = formatBytes(total);
  }

  function renderBalance(balance, transaction) {
    $('balance').textContent = balance;
    if (transaction) {
      const what = transaction.note ? `${transaction.subtypeLabel}: ${transaction.note}` : transaction.subtypeLabel;
      $('last-change').textContent = `${transaction.amount} (${what})`;
    }
  }

  // ---- live data ----
  function once(query) {
    return new Promise((resolve, reject) => {
      let result = null;
      client.subscribe(
        { query },
        {
          next: (r) => (result = r),
          error: reject,
          complete: () => (result && result.errors && result.errors.length ? reject(result.errors) : resolve(result && result.data)),
        },
      );
    });
  }

  async function resync() {
    const gen = generation;
    snapshotInFlight = true;
    balanceEventDuringSnapshot = false;
    let data;
    try {
      data = await once(SNAPSHOT);
    } catch (err) {
      if (gen !== generation || isCloseEvent(err)) return;
      $('keys-error').textContent = problemText(err);
      $('keys-error').hidden = false;
      return;
    } finally {
      if (gen === generation) snapshotInFlight = false;
    }
    if (gen !== generation) return;
    $('keys-error').hidden = true;
    // A balance event that arrived meanwhile may be newer than this read; events carry the
    // absolute balance, so the newest one wins.
    if (!balanceEventDuringSnapshot) renderBalance(data.balanceSummary.balance, null);
    const today = data.dailyUsage.daily[data.dailyUsage.daily.length - 1];
    todaySpent = today ? today.total : '0.000000';
    todayDate = today ? today.date : new Date().toISOString().slice(0, 10);
    $('today-spent').textContent = todaySpent;
    const global = data.keyUsage.global.remaining;
    const previous = new Map(keys);
    keys.clear();
    for (const k of data.keyUsage.keys) {
      keys.set(k.id, {
        id: k.id,
        name: k.name,
        spentToday: k.used.daily,
        dailyLimit: k.limits.daily,
        canSpend: minMoney([
          data.balanceSummary.balance,
          global.daily, global.weekly, global.monthly,
          k.remaining.daily, k.remaining.weekly, k.remaining.monthly,
        ]),
        bytes: previous.has(k.id) ? previous.get(k.id).bytes : 0,
      });
    }
    renderKeys();
  }

  function scheduleSettle() {
    clearTimeout(settleTimer);
    const gen = generation;
    settleTimer = setTimeout(() => gen === generation && resync(), SETTLE_MS);
  }

  function onBalance(result) {
    if (result.errors && result.errors.length) return showSectionProblem(result.errors);
    if (snapshotInFlight) balanceEventDuringSnapshot = true;
    const change = result.data.balanceChanged;
    renderBalance(change.balance, change.transaction);
  }

  function onUsage(result) {
    if (result.errors && result.errors.length) return showSectionProblem(result.errors);
    const u = result.data.usageUpdated;
    const bytes = Number(u.bytes);
    const index = Math.floor(Date.now() / BUCKET_MS);
    buckets.set(index, (buckets.get(index) || 0) + bytes);
    const key = keys.get(u.apiKeyId);
    if (!key) {
      scheduleSettle(); // a key this page has not seen yet
    } else {
      key.bytes += bytes;
      key.canSpend = u.remainingCredit;
      // The deltas show traffic at once; the settle re-read makes the figures exact afterwards.
      if (key.spentToday !== null) key.spentToday = fromMicro(toMicro(key.spentToday) + toMicro(u.cost));
    }
    if (todaySpent !== null && u.at.slice(0, 10) === todayDate) {
      todaySpent = fromMicro(toMicro(todaySpent) + toMicro(u.cost));
      $('today-spent').textContent = todaySpent;
    }
    renderKeys();
    renderChart();
    scheduleSettle();
  }

  function showSectionProblem(errors) {
    $('keys-error').textContent = problemText(errors);
    $('keys-error').hidden = false;
  }

  function subscribe(query, onNext, optional) {
    const gen = generation;
    client.subscribe(
      { query },
      {
        next: (result) => gen === generation && onNext(result),
        error: (err) => {
          if (gen !== generation || isCloseEvent(err)) return; // closes are handled by on.closed
          if (!optional) showSectionProblem(err);
        },
        complete: () => {},
      },
    );
  }

  function start() {
    stopClient();
    const gen = ++generation;
    connectedOnce = false;
    resetFigures();
    showDashboard();
    setStatus('down', 'Connecting…');
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`;
    client = graphqlWs.createClient({
      url,
      connectionParams: () =>
        auth.kind === 'session' ? { authorization: `Bearer ${auth.accessToken}` } : { apiKey: auth.key },
      retryAttempts: Infinity,
      retryWait: (retries) => new Promise((r) => setTimeout(r, Math.min(15000, 500 * 2 ** retries) + Math.random() * 500)),
      // 4403 means the credential is gone (revoked key, ended session, expired token): no retry.
      shouldRetry: (e) => isCloseEvent(e) && e.code !== FORBIDDEN,
      on: {
        connected: () => {
          if (gen !== generation) return;
          connectedOnce = true;
          refreshTried = false;
          setStatus('live', 'Live');
          // Also after a reconnect: events may have been missed meanwhile. Read again a second
          // later too: this read can overtake the subscriptions starting on the server.
          resync();
          setTimeout(() => gen === generation && resync(), 1000);
        },
        closed: (event) => {
          if (gen !== generation) return;
          if (isCloseEvent(event) && event.code === FORBIDDEN) return void lostAccess();
          setStatus('down', 'Reconnecting…');
        },
      },
    });
    subscribe(BALANCE, onBalance, false);
    subscribe(USAGE, onUsage, false);
    // Needs the "keys" scope; a key without it still sees balance and usage.
    subscribe(KEYS, () => scheduleSettle(), true);
    clearInterval(chartTimer);
    chartTimer = setInterval(() => {
      renderChart();
      if (todayDate && new Date().toISOString().slice(0, 10) !== todayDate) resync(); // a new UTC day
    }, 1000);
  }

  function stopClient() {
    generation++;
    clearTimeout(settleTimer);
    clearInterval(chartTimer);
    if (client) client.dispose();
    client = null;
  }

  async function lostAccess() {
    const wasConnected = connectedOnce;
    stopClient();
    if (auth && auth.kind === 'session' && !refreshTried) {
      // The access token is short-lived: a valid refresh token keeps the dashboard open.
      refreshTried = true;
      try {
        const data = await postGraphQL(REFRESH, { refreshToken: auth.refreshToken });
        if (data.refreshToken.__typename === 'MutationRefreshTokenSuccess') {
          auth = { ...auth, accessToken: data.refreshToken.data.accessToken, refreshToken: data.refreshToken.data.refreshToken };
          saveAuth();
          return start();
        }
      } catch {
        // fall through to the login screen
      }
    }
    const message =
      auth && auth.kind === 'apiKey'
        ? wasConnected
          ? 'This API key is no longer valid (revoked, regenerated or expired).'
          : 'This API key was refused.'
        : 'Your session has ended. Please log in again.';
    signOut(message);
  }

  function signOut(message) {
    stopClient();
    auth = null;
    refreshTried = false;
    saveAuth();
    resetFigures();
    showLogin(message);
  }

  // ---- forms ----
  $('login-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = event.submitter || $('login-form').querySelector('button');
    button.disabled = true;
    try {
      const data = await postGraphQL(LOGIN, { email: $('email').value.trim(), password: $('password').value });
      const result = data.login;
      if (result.__typename !== 'MutationLoginSuccess') return showLogin(result.message || 'Log-in failed.');
      const { accessToken, refreshToken, user } = result.data;
      auth = { kind: 'session', accessToken, refreshToken, label: user.email || user.username };
      $('password').value = '';
      refreshTried = false;
      saveAuth();
      start();
    } catch (err) {
      showLogin(`Log-in failed: ${problemText(err)}`);
    } finally {
      button.disabled = false;
    }
  });

  $('key-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const key = $('api-key').value.trim();
    if (!key) return;
    auth = { kind: 'apiKey', key, label: `API key ${key.slice(0, 8)}…` };
    $('api-key').value = '';
    saveAuth();
    start();
  });

  $('logout').addEventListener('click', () => {
    if (auth && auth.kind === 'session') {
      postGraphQL(LOGOUT, {}, { authorization: `Bearer ${auth.accessToken}` }).catch(() => {});
    }
    signOut('');
  });

  auth = loadAuth();
  if (auth) start();
  else showLogin('');
})();
