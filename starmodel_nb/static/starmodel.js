(() => {
const meta = n => document.querySelector(`meta[name="sm-${n}"]`)?.content ?? '';
const root = meta('root'), name = `starmodel:${root || '/'}`;
let epoch = meta('epoch'), last = +meta('seq') || 0;
const seen = new Map(), recent = [];
const bc = 'BroadcastChannel' in self ? new BroadcastChannel(name) : null;
const nativeFetch = self.fetch.bind(self);
self.fetch = async (input, init = {}) => {
  const h = new Headers(init.headers || {});
  if (!h.has('Datastar-Request')) return nativeFetch(input, init);
  h.set('Accept', 'text/event-stream');   // exactly this: jupyter-server-proxy streams nothing else
  const res = await nativeFetch(input, {...init, headers: h});
  if (res.ok) return res;
  // Read the refusal here: Datastar aborts a non-200 response, which would cut a later read short (an AbortError).
  notify(await reason(res));
  return new Response(null, {status: res.status, statusText: res.statusText});
};
async function reason(res) {
  let t = '';
  try { t = await res.text(); } catch (e) { }
  if ((res.headers.get('Content-Type') || '').includes('html')) t = new DOMParser().parseFromString(t, 'text/html').body.textContent;
  t = t.trim().slice(0, 500);
  return t || `The server answered ${res.status} ${res.statusText}.`.replace(' .', '.');
}
function notify(text, keep = false) {
  let box = document.getElementById('sm-messages');
  if (!box) {   // a hand-written page without the message area: one of our own, fixed at the top
    box = Object.assign(document.createElement('div'), {id: 'sm-messages'});
    box.style.cssText = 'position:fixed;top:.5rem;left:50%;transform:translateX(-50%);z-index:1000;max-width:90vw';
    document.body.prepend(box);
  }
  const d = document.createElement('div');
  d.className = 'uk-alert uk-alert-destructive'; d.setAttribute('role', 'alert'); d.textContent = text;
  box.append(d); if (!keep) setTimeout(() => d.remove(), 8000);
}
// A page whose Datastar (or styles) did not load must say so: a dead page that looks alive is the worst outcome.
const failed = self.smFailed || new Set();   // gathered from the start by the inline boot script
addEventListener('load', () => setTimeout(() => {
  const probe = Object.assign(document.createElement('span'), {hidden: true});
  probe.setAttribute('data-text', "'on'");
  document.body.append(probe);
  setTimeout(() => {
    const alive = probe.textContent === 'on';
    probe.remove();
    if (alive && !failed.size) return;
    const what = alive ? 'Some of its styles or scripts' : "This page's Datastar client";
    notify(`${what} did not load (${[...failed].join(', ') || 'no response'}): ${alive ? 'it may look wrong' : 'buttons and live updates will not work'}. ` +
           'Run `starmodel assets pull` where the app runs (then restart it) to serve these files locally, or check the network.', true);
    document.documentElement.dataset.smDead = alive ? 'styles' : 'client';
  }, 300);
}));
// Franken UI's scripts (its components and its icons, some 600 KB) load once the page has an element they drive: a
// `uk-*` element or attribute, there from the start or patched in later. The generated pages have none.
const franken = meta('franken').split(' ').filter(Boolean);
const drives = n => document.evaluate("boolean(descendant-or-self::*[starts-with(local-name(), 'uk-') or " +
  "@*[starts-with(name(), 'uk-') or starts-with(name(), 'data-uk-')]])", n, null, XPathResult.BOOLEAN_TYPE, null).booleanValue;
const watch = new MutationObserver(ms => ms.some(m => [...m.addedNodes].some(n => n.nodeType === 1 && drives(n))) && loadFranken());
async function loadFranken() {   // in order: the icons need the components' globals
  watch.disconnect();
  for (const src of franken.splice(0))
    await new Promise(done => document.head.append(Object.assign(document.createElement('script'), {type: 'module', src, onload: done, onerror: done})));
}
if (franken.length) drives(document.documentElement) ? loadFranken() : watch.observe(document.documentElement, {childList: true, subtree: true});
const patch = (type, argsRaw) => document.dispatchEvent(new CustomEvent('datastar-fetch', {detail: {type, el: document.documentElement, argsRaw}}));
// Entities kept in the browser (CLIENT_LOCAL / CLIENT_SESSION): their signals live in the browser's storage. The page's
// own signals (the defaults) are replaced by what the storage holds as soon as Datastar sets them; every later patch of
// those signals (an event's answer) is written back; and another tab's change to localStorage is followed here.
const kept = (() => { try { return JSON.parse(meta('keep') || '[]'); } catch (e) { return []; } })();
const box = k => k.store === 'local' ? localStorage : sessionStorage, slot = k => `starmodel:${root || '/'}:${k.ns}`;
function stored(k) { try { const v = JSON.parse(box(k).getItem(slot(k)) || 'null'); return v && typeof v === 'object' && !Array.isArray(v) ? v : null; } catch (e) { return null; } }
const only = (k, o) => Object.fromEntries(Object.entries(o).filter(([f]) => k.fields.includes(f)));
const restored = new Set();
document.addEventListener('datastar-signal-patch', e => {
  for (const k of kept) {
    const d = e.detail?.[k.ns];
    if (!d || typeof d !== 'object') continue;
    if (!restored.has(k.ns)) {   // the page's defaults: the browser's own state takes their place
      restored.add(k.ns);
      const s = stored(k);
      if (s) { queueMicrotask(() => patch('datastar-patch-signals', {signals: JSON.stringify({[k.ns]: only(k, s)})})); continue; }
    }
    try { box(k).setItem(slot(k), JSON.stringify({...(stored(k) || {}), ...only(k, d)})); } catch (err) { console.debug('starmodel keep', err); }
  }
});
addEventListener('storage', e => {
  const k = kept.find(k => k.store === 'local' && e.key === slot(k));
  const s = k && e.newValue ? stored(k) : null;
  if (s) patch('datastar-patch-signals', {signals: JSON.stringify({[k.ns]: only(k, s)})});
});
function hello(m) { if (m.epoch !== epoch) { epoch = m.epoch; last = 0; seen.clear(); } behind(m.behind); }
// The server's bus to its other instances is away: changes made elsewhere are late. Say so until they flow again.
function behind(on) {
  const old = document.getElementById('sm-behind');
  if (!on) return old?.remove();
  if (old) return;
  notify('Live updates are delayed: the server cannot reach its other instances. This page catches up by itself once they are back.', true);
  const d = document.getElementById('sm-messages').lastElementChild;
  d.id = 'sm-behind'; d.className = 'uk-alert uk-alert-warning'; d.setAttribute('role', 'status');
}
function apply(m) {
  if (m.hello) return hello(m);
  if (m.behind !== undefined) return behind(m.behind);
  if (m.epoch !== epoch) return;
  if (m.seq > last) last = m.seq;
  if (m.job) {   // a background job's news: its signals only, in order (no version: it changes no state)
    if (m.rec ? document.getElementById(m.id) : document.querySelector(`[data-sm-ns~="${m.ns}"]`)) patch('datastar-patch-signals', {signals: JSON.stringify(m.signals)});
    return;
  }
  if (m.list) document.querySelectorAll(`[data-sm-list="${m.list}"]`).forEach(l => l.dispatchEvent(new CustomEvent('sm-refresh')));
  const el = document.getElementById(m.id), mk = document.getElementById(m.id + '-v');
  const shown = mk && mk.dataset.smE === epoch ? +(mk.dataset.smV ?? -1) : -1;
  if (m.v <= Math.max(shown, seen.get(m.id) ?? -1)) return;
  seen.set(m.id, m.v);
  if (m.remove) { if (el) { el.replaceChildren(); el.append(Object.assign(document.createElement('div'), {className: 'uk-alert', textContent: 'This record was deleted.'})); } return; }
  if (m.signals && (m.rec ? el : document.querySelector(`[data-sm-ns~="${m.ns}"]`))) patch('datastar-patch-signals', {signals: JSON.stringify(m.signals)});
  if (el && m.elements) patch('datastar-patch-elements', {elements: m.elements});
}
let warned = false;
function skipped(data, e) { if (!warned) console.warn('starmodel: skipped a live update the page cannot apply', e, data.slice(0, 200)); warned = true; }
function relay(m) { apply(m); recent.push(m); if (recent.length > 200) recent.shift(); bc?.postMessage(m); }
async function hold() {
  if (bc) bc.onmessage = e => { if (e.data.want !== undefined) recent.filter(m => m.seq > e.data.want).forEach(m => bc.postMessage(m)); };
  for (let wait = 250;; wait = Math.min(wait * 2, 5000)) {
    try {
      const res = await nativeFetch(`${root}/_sm/stream?since=${last}&epoch=${encodeURIComponent(epoch)}`,
        {headers: {'Accept': 'text/event-stream', 'Datastar-Request': 'true'}, cache: 'no-store', credentials: 'same-origin'});
      if (!res.ok || !res.body) { await res.body?.cancel(); throw new Error(`stream answered ${res.status}`); }
      wait = 250;
      const rd = res.body.pipeThrough(new TextDecoderStream()).getReader();
      try {   // an abandoned response would hold one of the browser's six connections to the app
        let buf = '';
        for (;;) {
          const {value, done} = await rd.read();
          if (done) break;
          buf += value;
          for (let i; (i = buf.indexOf('\n\n')) >= 0; buf = buf.slice(i + 2)) {
            const data = buf.slice(0, i).split('\n').filter(l => l.startsWith('data:')).map(l => l.slice(5).trim()).join('\n');
            if (!data) continue;
            try { relay(JSON.parse(data)); } catch (e) { skipped(data, e); }   // skip it: a retry would get it again, for ever
          }
        }
      } finally { rd.cancel().catch(() => {}); }
    } catch (e) { console.debug('starmodel stream', e); }
    await new Promise(r => setTimeout(r, wait));
  }
}
function follow() { bc.onmessage = e => { if (e.data.want === undefined) apply(e.data); }; bc.postMessage({want: last}); }
if (navigator.locks && bc) { follow(); navigator.locks.request(name, hold).catch(() => hold()); }   // locks are denied in some frames
else hold();
if (parent !== self) {
  const post = () => parent.postMessage({starmodelHeight: document.documentElement.scrollHeight}, '*');
  new ResizeObserver(post).observe(document.documentElement);
}
})();
