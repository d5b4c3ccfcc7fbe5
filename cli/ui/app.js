// The taskbus dashboard. Everything shown comes from workers and messages anyone on the broker may have
// written: it goes into the page as text (textContent), never as HTML.
const csrf = document.querySelector('meta[name="taskbus-csrf"]').content;
const authMode = document.querySelector('meta[name="taskbus-auth"]').content;
const $ = (id) => document.getElementById(id);

/** An element with attributes and children; strings become text nodes. */
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'class') e.className = v;
    else e.setAttribute(k, String(v));
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(c === null || c === undefined ? '' : String(c)));
  return e;
}

const cell = (col, value, numeric = false) => el('td', { 'data-col': col, class: numeric ? 'n' : undefined }, value === null || value === undefined ? '-' : value);
const fixed = (n, digits = 2) => (n === null || n === undefined ? null : n.toFixed(digits));
const seconds = (s) => (s === null || s === undefined ? null : s < 1 ? `${(s * 1000).toFixed(1)} ms` : `${s.toFixed(2)} s`);

function toast(text) {
  $('toast').textContent = text;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => ($('toast').textContent = ''), 6000);
}

/** The confirmation step of every state-changing action: resolves true on "Yes". */
function ask(question) {
  const box = $('confirm');
  $('confirm-text').textContent = question;
  box.hidden = false;
  $('confirm-no').focus();
  return new Promise((resolve) => {
    const done = (answer) => {
      box.hidden = true;
      $('confirm-yes').onclick = null;
      $('confirm-no').onclick = null;
      resolve(answer);
    };
    $('confirm-yes').onclick = () => done(true);
    $('confirm-no').onclick = () => done(false);
  });
}

async function post(path, body) {
  const response = await fetch(path, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json', 'x-taskbus-csrf': csrf },
    body: JSON.stringify(body),
  });
  const json = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(json.error ?? `HTTP ${response.status}`);
  return json;
}

async function get(path) {
  const response = await fetch(path, { credentials: 'same-origin' });
  const json = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(json.error ?? `HTTP ${response.status}`);
  return json;
}

// ---- rendering ----

function renderQueues(s) {
  $('queues-source').textContent = s.source === 'management' ? '(management API)' : s.source === 'amqp' ? '(AMQP; unacked unknown without the management plugin)' : '';
  $('queues').tBodies[0].replaceChildren(
    ...s.queues.map((q) =>
      el(
        'tr',
        { 'data-queue': q.queue },
        cell('queue', q.queue),
        cell('state', q.state),
        cell('ready', q.ready, true),
        cell('unacked', q.unacked, true),
        cell('consumers', q.consumers, true),
        cell('publish', fixed(q.rates?.publish), true),
        cell('deliver', fixed(q.rates?.deliver), true),
        cell('done', fixed(q.done), true),
        cell('trend', fixed(q.trend, 1), true),
        cell('dlq', q.dlq, true),
      ),
    ),
  );
}

function renderWorkers(s) {
  $('workers').tBodies[0].replaceChildren(
    ...s.workers.map((w) =>
      el(
        'tr',
        { 'data-node': w.node, 'data-language': w.language },
        cell('node', w.node),
        el('td', { 'data-col': 'language', class: `lang-${w.language}` }, w.language),
        cell('software', w.software),
        cell('queues', w.queues.join(', ')),
        cell('tasks', w.tasks.map((t) => (t.version === null ? t.name : `${t.name} v${t.version}`)).join(', ')),
        cell('active', w.active.length ? w.active.map((a) => `${a.name}[${a.id}]${a.seconds === null ? '' : ` ${a.seconds}s`}`).join(', ') : '0'),
        cell('total', Object.values(w.total).reduce((a, n) => a + n, 0), true),
      ),
    ),
  );
}

function renderTasks(s) {
  $('tasks').tBodies[0].replaceChildren(
    ...s.tasks.map((t) => {
      const m = t.metrics ?? {};
      return el(
        'tr',
        { 'data-task': t.task, 'data-version': t.version },
        cell('task', t.task),
        cell('version', t.version || null),
        cell('workers', t.workers.join(', ')),
        cell('received', m.received, true),
        cell('succeeded', m.succeeded, true),
        cell('failed', m.failed, true),
        cell('retried', m.retried, true),
        cell('dead-lettered', m.deadLettered, true),
        cell('running', m.inFlight, true),
        cell('celery-total', t.celeryTotal, true),
        cell('rate', fixed(t.rates?.succeeded), true),
        cell('fail-rate', fixed(t.rates?.failed), true),
        cell('duration', seconds(t.rates?.meanSeconds ?? (m.durationCount ? m.durationSum / m.durationCount : null)), true),
      );
    }),
  );
}

function renderDlqs(s) {
  const withLetters = s.queues.filter((q) => q.dlq !== null && !q.queue.endsWith('.dlq'));
  $('dlqs').tBodies[0].replaceChildren(
    ...withLetters.map((q) =>
      el(
        'tr',
        { 'data-dlq-queue': q.queue },
        cell('queue', `${q.queue}.dlq`),
        cell('count', q.dlq, true),
        el(
          'td',
          {},
          el('button', { type: 'button', 'data-action': 'browse', onclick: () => browse(q.queue) }, 'Browse'),
          ' ',
          el('button', { type: 'button', 'data-action': 'replay-all', disabled: q.dlq === 0 ? '' : undefined, onclick: () => replay(q.queue) }, 'Replay all'),
          ' ',
          el('button', { type: 'button', 'data-action': 'purge', disabled: q.dlq === 0 ? '' : undefined, onclick: () => purge(q.queue) }, 'Purge'),
        ),
      ),
    ),
  );
}

function renderErrors(s) {
  $('errors').replaceChildren(...s.errors.map((e) => el('li', {}, e)));
  $('status').textContent = `updated ${new Date(s.at).toLocaleTimeString()} (sample ${s.sample})`;
  document.body.dataset.samples = String(s.sample);
}

// ---- charts (uPlot) ----

const charts = {};
function chart(id, t, series) {
  const names = Object.keys(series);
  const key = names.join('\u0000');
  const data = [t, ...names.map((n) => series[n])];
  const holder = $(id);
  if (charts[id]?.key !== key) {
    charts[id]?.plot.destroy();
    const colors = ['#3178c6', '#e8590c', '#2f9e44', '#ae3ec9', '#f08c00', '#1098ad', '#c2255c', '#5c940d'];
    const opts = {
      width: Math.max(320, holder.clientWidth || 560),
      height: 220,
      series: [{}, ...names.map((label, i) => ({ label, stroke: colors[i % colors.length], width: 2, spanGaps: true }))],
      axes: [{}, { size: 50 }],
    };
    charts[id] = { key, plot: new uPlot(opts, data, holder) };
  } else {
    charts[id].plot.setData(data);
  }
}

function render(s) {
  renderErrors(s);
  renderQueues(s);
  renderWorkers(s);
  renderTasks(s);
  renderDlqs(s);
  if (typeof uPlot === 'function' && s.chart.t.length > 0) {
    chart('chart-queues', s.chart.t, s.chart.queues);
    chart('chart-tasks', s.chart.t, s.chart.tasks);
  }
}

// ---- dead letters ----

let browsing = null;

async function browse(queue) {
  browsing = queue;
  $('dlq-browser').hidden = false;
  $('dlq-browser-queue').textContent = `${queue}.dlq`;
  $('dlq-detail').hidden = true;
  try {
    const { letters, more } = await get(`/api/dlq?queue=${encodeURIComponent(queue)}`);
    $('letters-more').hidden = !more;
    $('letters').tBodies[0].replaceChildren(
      ...letters.map((d) =>
        el(
          'tr',
          { 'data-id': d.id },
          cell('failed-at', d.failedAt),
          cell('task', d.task),
          cell('id', d.id),
          cell('reason', d.reason),
          cell('error', d.error),
          el(
            'td',
            {},
            el('button', { type: 'button', 'data-action': 'show', onclick: () => show(queue, d.id) }, 'Show'),
            ' ',
            el('button', { type: 'button', 'data-action': 'replay', onclick: () => replay(queue, d.id, d.task) }, 'Replay'),
          ),
        ),
      ),
    );
  } catch (e) {
    $('letters').tBodies[0].replaceChildren();
    toast(`cannot list ${queue}.dlq: ${e.message}`);
  }
}

async function show(queue, id) {
  try {
    const d = await get(`/api/dlq/show?queue=${encodeURIComponent(queue)}&id=${encodeURIComponent(id)}`);
    $('dlq-detail').textContent = JSON.stringify(d, null, 2);
    $('dlq-detail').hidden = false;
  } catch (e) {
    toast(e.message);
  }
}

async function replay(queue, id, task) {
  const what = id ? `the dead letter ${id} (${task})` : `every dead letter of ${queue}.dlq`;
  if (!(await ask(`Replay ${what} to queue ${queue}? Each runs again.`))) return;
  try {
    const r = await post('/api/dlq/replay', { queue, ...(id ? { id } : {}), confirm: true });
    toast(`replayed ${r.replayed}${r.kept ? `, kept ${r.kept} (no queue ${r.missingQueues.join(', ')})` : ''}`);
  } catch (e) {
    toast(`replay failed: ${e.message}`);
  }
  if (browsing === queue) await browse(queue);
}

async function purge(queue) {
  if (!(await ask(`Purge ${queue}.dlq? Its dead letters are deleted for good.`))) return;
  try {
    const r = await post('/api/dlq/purge', { queue, confirm: true });
    toast(`purged ${r.purged} from ${queue}.dlq`);
  } catch (e) {
    toast(`purge failed: ${e.message}`);
  }
  if (browsing === queue) await browse(queue);
}

$('dlq-browser-close').onclick = () => {
  browsing = null;
  $('dlq-browser').hidden = true;
};

// ---- live updates ----

function live() {
  const events = new EventSource('/api/events');
  events.onmessage = (m) => render(JSON.parse(m.data));
  events.onerror = () => {
    $('status').textContent = 'disconnected; retrying…';
    // EventSource retries a lost connection, but gives up on a refusal: a restarted dashboard (new CSRF token,
    // its sessions gone) answers 401. The page is loaded again, to get the new token and ask to log in.
    if (events.readyState === EventSource.CLOSED) setTimeout(() => location.reload(), 2000);
  };
}

async function start() {
  if (authMode === 'token') {
    try {
      await get('/api/state');
    } catch {
      $('login').hidden = false;
      $('login').onsubmit = async (e) => {
        e.preventDefault();
        try {
          await post('/api/login', { token: $('login-token').value });
          $('login').hidden = true;
          live();
        } catch (err) {
          $('login-error').textContent = err.message;
        }
      };
      return;
    }
  }
  live();
}

start();
