// starmodel_nb's first lines, inline in <head> before any other script (the rest of the client is deferred).
// A frame inside a non-http page (VS Code's outputs) may be denied storage; theme scripts read it, so lend them a memory one.
for (const kind of ['localStorage', 'sessionStorage']) try { self[kind]; } catch (e) {
  const m = new Map(), mem = {getItem: k => m.has(k) ? m.get(k) : null, setItem: (k, v) => m.set(k, `${v}`), removeItem: k => m.delete(k),
                              clear: () => m.clear(), key: i => [...m.keys()][i] ?? null, get length() { return m.size; }};
  try { Object.defineProperty(self, kind, {value: mem, configurable: true}); } catch (e2) { }
}
// Every file of the page that fails to load, from the first: the client says so once the page has loaded.
self.smFailed = new Set();
document.addEventListener('error', e => { const u = e.target?.src || e.target?.href; if (u) self.smFailed.add(u); }, true);
