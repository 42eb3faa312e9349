"""Event round trip: starmodel_nb against hand-written FastHTML and Starlette apps doing the same job.

The job is one *global* counter: a page shows the count in a span, a button fires a Datastar `@get` to an event
route, and the route answers `text/event-stream` with a patch that shows the new count. Three implementations:

  s  starmodel_nb       an `Entity` with `scope: global` and an `@event increment`, served by `create_app`
  a  FastHTML           `async def` route returning `DatastarResponse(SSE.patch_elements(Span(...)))`
                        (throughput is also measured for a sync `def` variant of the same route, "a-sync")
  b  Starlette          a bare `Route` returning datastar-py's Starlette `DatastarResponse`

Each app runs with uvicorn (one worker, 127.0.0.1, no access log) in its own subprocess, and all pages load
only local files (the Datastar 1.0 client from `.cache/assets`). Two measurements, interleaved between the
apps (rotating the order) so that drift of the machine affects them equally:

  1. click-to-DOM latency in headless Chromium (Playwright, /usr/bin/chromium): inside the page, N times, take
     `performance.now()`, click the button, and stop when a MutationObserver sees the count's text equal the
     expected new value. Clicks run in chunks per app, alternating apps. Median and p95 in ms.
  2. throughput of the event route: `wrk -t2 -c50 -d5s -H 'Datastar-Request: true'` (no cookie), after a short
     warm-up, for R rounds alternating apps. Median requests/s. Any non-2xx response is an error.

wrk, the server and Chromium share the machine's cores; that is the same for every app. The report ends
with the ratios starmodel/FastHTML and starmodel/Starlette against their targets. The exit code is 0 whatever
the ratios are, non-zero only when something failed (a server did not start, a non-2xx response, ...).

Run from the repository root:

    python bench/event_roundtrip.py            # default: 200 clicks per app, 3 rounds of 5 s wrk (~2 min)
    python bench/event_roundtrip.py --quick    # smoke run: fewer clicks, shorter wrk
    python bench/event_roundtrip.py --rounds 5
"""
from __future__ import annotations
import argparse, math, os, platform, re, socket, statistics, subprocess, sys, tempfile, time
import urllib.error, urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ASSETS_DIR = ROOT / ".cache" / "assets"
WRK = "/usr/bin/wrk"
sys.path.insert(0, str(Path(__file__).parent))
from support import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
TARGETS_LATENCY = 1.1      # s/a click-to-DOM median latency: at most
TARGETS_THROUGHPUT = {"a": 1.0, "b": 0.6}   # s/a and s/b requests/s: at least


class BenchError(Exception):
    "Something failed: the run is not a valid measurement."


# ---------------------------------------------------------------- the three apps (built in the server process)

def starmodel_app():
    from starmodel_nb import Entity, event, create_app

    import time as clock

    class BenchCounter(Entity):
        model_config = {"scope": "global"}
        count: int = 0

        @event
        def increment(self): self.count += 1

        @event
        async def increment_async(self): self.count += 1

    class BenchSleeper(Entity):   # an instance of its own: its lock is not the counter's
        model_config = {"scope": "global"}
        naps: int = 0

        @event
        def nap(self):
            clock.sleep(0.05)   # a plain `def` that blocks (a slow library, a file): it must not hold up the others
            self.naps += 1

    return create_app([BenchCounter, BenchSleeper], assets=str(ASSETS_DIR),
                      secret_key="bench-secret-key-of-at-least-32-bytes")


def fasthtml_app():
    from fasthtml.common import FastHTML, Link, Script, Title, Main, Span, Button
    from datastar_py import ServerSentEventGenerator as SSE
    from datastar_py.fasthtml import DatastarResponse
    from starlette.staticfiles import StaticFiles

    app = FastHTML(default_hdrs=False, hdrs=[Link(rel="icon", href="data:,"),
                                             Script(type="module", src="/assets/datastar.js")])
    app.mount("/assets", StaticFiles(directory=ASSETS_DIR))
    rt = app.route
    count = 0

    @rt("/")
    def index():
        return Title("Counter"), Main(Span(count, id="count"),
                                      Button("Increment", **{"data-on:click": "@get('/increment')"}))

    @rt("/increment")
    async def increment():
        nonlocal count
        count += 1
        return DatastarResponse(SSE.patch_elements(Span(count, id="count")))

    @rt("/increment_sync")
    def increment_sync():
        nonlocal count
        count += 1
        return DatastarResponse(SSE.patch_elements(Span(count, id="count")))

    return app


def starlette_app():
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles
    from datastar_py import ServerSentEventGenerator as SSE
    from datastar_py.starlette import DatastarResponse
    from starlette.responses import Response
    from datastar_py.sse import SSE_HEADERS

    count = 0

    async def index(request):
        return HTMLResponse('<!doctype html><html><head><title>Counter</title><link rel="icon" href="data:,">'
                            '<script type="module" src="/assets/datastar.js"></script></head>'
                            f'<body><span id="count">{count}</span>'
                            """<button data-on:click="@get('/increment')">Increment</button></body></html>""")

    async def increment(request):
        nonlocal count
        count += 1
        return DatastarResponse(SSE.patch_elements(f'<span id="count">{count}</span>'))

    async def increment_plain(request):
        "The same answer as one plain Response: no StreamingResponse machinery (the true floor)."
        nonlocal count
        count += 1
        return Response(SSE.patch_elements(f'<span id="count">{count}</span>'), headers=SSE_HEADERS)

    return Starlette(routes=[Route("/", index), Route("/increment", increment), Route("/increment_plain", increment_plain),
                             Mount("/assets", StaticFiles(directory=ASSETS_DIR))])


APPS = {"s": starmodel_app, "a": fasthtml_app, "b": starlette_app}


@dataclass(frozen=True)
class Target:
    "How the benchmark sees one app: its page, its event route and the id of the count element."
    key: str
    label: str
    page: str
    event: str
    count_id: str


TARGETS = {
    "s": Target("s", "starmodel_nb", "/benchcounter", "/benchcounter/increment", "sm-benchcounter-count"),
    "a": Target("a", "FastHTML + datastar-py", "/", "/increment", "count"),
    "b": Target("b", "Starlette + datastar-py", "/", "/increment", "count"),
}
# throughput-only extra: the sync handler of app a
WRK_ROUTES = {"s": ("s", TARGETS["s"].event), "s-async": ("s", "/benchcounter/increment_async"),
              "a": ("a", TARGETS["a"].event), "a-sync": ("a", "/increment_sync"), "b": ("b", TARGETS["b"].event),
              "b-plain": ("b", "/increment_plain")}
NAP = "/benchsleeper/nap"   # the blocking `def` event, hammered beside the quick one


def serve(key: str, port: int) -> None:
    "Run app `key` with uvicorn in this process (the child side of `Server`)."
    import uvicorn
    uvicorn.run(APPS[key](), host="127.0.0.1", port=port, workers=1, access_log=False, log_level="warning")


# ---------------------------------------------------------------- servers in subprocesses

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url: str, headers: dict | None = None, timeout: float = 5.0) -> tuple[int, dict, str]:
    "(status, headers, body) of a GET, also for error statuses."
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode("utf-8", "replace")


class Server:
    "App `key` served by `python event_roundtrip.py --serve key` in a subprocess, in a scratch working directory."

    def __init__(self, key: str, workdir: Path):
        self.target, self.port = TARGETS[key], free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"server-{key}.log"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--serve", key, "--port", str(self.port)],
                                     cwd=workdir, env=env, stdout=self.log.open("w"), stderr=subprocess.STDOUT)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                if http_get(self.url + self.target.page, timeout=1)[0] == 200: return
            except OSError: pass
            time.sleep(0.1)
        raise BenchError(f"{self.target.label}: server did not answer within {timeout:.0f} s\n{self.log.read_text()}")

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise BenchError(f"{self.target.label}: server exited ({self.proc.returncode})\n{self.log.read_text()}")

    def check_event_route(self, path: str) -> None:
        "One request to the event route: it must be a 200 `text/event-stream` carrying a Datastar patch."
        status, headers, body = http_get(self.url + path, {"Datastar-Request": "true"})
        ctype = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
        if status != 200 or not ctype.startswith("text/event-stream") or "datastar-patch-elements" not in body:
            raise BenchError(f"{self.target.label}: GET {path} answered {status}\n"
                             f"headers: {headers}\nbody: {body[:2000]!r}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try: self.proc.wait(5)
            except subprocess.TimeoutExpired: self.proc.kill(); self.proc.wait()


# ---------------------------------------------------------------- click-to-DOM latency

CLICK_LOOP_JS = """
async ({countId, n, timeoutMs}) => {
  const text = () => document.getElementById(countId)?.textContent.trim();
  const button = () => [...document.querySelectorAll('button')].find(b => b.textContent.trim() === 'Increment');
  const within = (promise, why) => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(why())), timeoutMs);
    promise.then(v => { clearTimeout(timer); resolve(v); });
  });
  const countIs = want => new Promise(resolve => {
    const obs = new MutationObserver(() => { if (text() === want) { obs.disconnect(); resolve(performance.now()); } });
    obs.observe(document.body, {subtree: true, childList: true, characterData: true});
  });
  const requestFinished = () => new Promise(resolve => {
    const on = e => { if (e.detail?.type === 'finished') { document.removeEventListener('datastar-fetch', on); resolve(); } };
    document.addEventListener('datastar-fetch', on);
  });
  const durations = [];
  for (let i = 0; i < n; i++) {
    const want = String(Number(text()) + 1);
    const shown = countIs(want), finished = requestFinished();
    const t0 = performance.now();
    button().click();
    durations.push(await within(shown, () => `count is ${text()}, expected ${want}`) - t0);
    // Not timed: let Datastar finish the request, or the next click would cancel it (the element's
    // previous request is aborted on a new one) and the abort can make Datastar send it again.
    await within(finished, () => `request for ${want} never finished`);
  }
  return durations;
}
"""


def open_page(browser, server: Server, external: list, problems: list):
    "A fresh page of `server`'s app, loaded and with Datastar answering clicks; notes off-host requests and JS errors."
    page = browser.new_context().new_page()
    label = server.target.label
    page.on("request", lambda r: None if r.url.startswith(server.url) else external.append(f"{label}: {r.url}"))
    page.on("pageerror", lambda e: problems.append(f"{label}: page error: {e}"))
    page.on("console", lambda m: problems.append(f"{label}: console {m.type}: {m.text}") if m.type == "error" else None)
    page.goto(server.url + server.target.page, wait_until="load")
    page.wait_for_timeout(500)
    clicks(page, server.target, 5)    # warm-up: proves the button works, results dropped
    return page


def clicks(page, target: Target, n: int) -> list[float]:
    "Durations (ms) of `n` click-to-DOM round trips on `page`."
    page.bring_to_front()
    return page.evaluate(CLICK_LOOP_JS, {"countId": target.count_id, "n": n, "timeoutMs": 5000})


def measure_latency(servers: dict, keys: list, n_clicks: int, chunks: int) -> dict[str, list[float]]:
    "Click durations per app, `n_clicks` each, in `chunks` chunks alternating between apps (rotating order)."
    from playwright.sync_api import sync_playwright
    external, problems, out = [], [], {k: [] for k in keys}
    per_chunk = math.ceil(n_clicks / chunks)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        print(f"Chromium {browser.version}")
        try:
            pages = {k: open_page(browser, servers[k], external, problems) for k in keys}
            for c in range(chunks):
                for k in rotated(keys, c):
                    out[k] += clicks(pages[k], servers[k].target, min(per_chunk, n_clicks - len(out[k])))
        except Exception as e:
            if type(e).__module__.startswith("playwright"): raise BenchError(f"browser: {e}") from None
            raise
        finally:
            browser.close()
    for msg in problems: print(f"  warning: {msg}")
    if external: raise BenchError("pages made requests off the local server:\n  " + "\n  ".join(external))
    return out


# ---------------------------------------------------------------- throughput with wrk

@dataclass
class WrkResult:
    rps: float
    non2xx: int
    socket_errors: str
    output: str


def run_wrk(url: str, seconds: float, threads: int = 2, connections: int = 50) -> WrkResult:
    cmd = [WRK, f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "-H", "Datastar-Request: true", url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    if out.returncode != 0 or "Requests/sec" not in out.stdout:
        raise BenchError(f"wrk failed on {url} ({out.returncode}):\n{out.stdout}{out.stderr}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out.stdout).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out.stdout)
    sock = re.search(r"Socket errors:\s*(.+)", out.stdout)
    return WrkResult(rps, int(non2xx.group(1)) if non2xx else 0, sock.group(1).strip() if sock else "", out.stdout)


def wrk_checked(server: Server, name: str, path: str, seconds: float) -> WrkResult:
    "`run_wrk` on `path`, raising when any response was not 2xx (with one sample response) or the server died."
    r = run_wrk(server.url + path, seconds)
    server.check_alive()
    if r.non2xx:
        status, headers, body = http_get(server.url + path, {"Datastar-Request": "true"})
        raise BenchError(f"{name}: {r.non2xx} non-2xx responses from {path}\n{r.output}\n"
                         f"a sample request now answers {status}\nheaders: {headers}\nbody: {body[:2000]!r}")
    if r.socket_errors: print(f"  warning: {name}: wrk socket errors: {r.socket_errors}")
    return r


def measure_throughput(servers: dict, names: list, rounds: int, seconds: float, warmup: float) -> dict[str, list[float]]:
    "Requests/s per wrk route name, `rounds` runs each, alternating between routes (rotating order)."
    for name in names:
        key, path = WRK_ROUTES[name]
        wrk_checked(servers[key], name, path, warmup)
    out = {n: [] for n in names}
    for r in range(rounds):
        for name in rotated(names, r):
            key, path = WRK_ROUTES[name]
            out[name].append(wrk_checked(servers[key], name, path, seconds).rps)
        print(f"  round {r + 1}/{rounds}: " + ", ".join(f"{n} {out[n][-1]:,.0f}" for n in names))
    return out


# ---------------------------------------------------------------- report

def measure_beside(server: Server, seconds: float) -> tuple[float, float]:
    "Requests/s of starmodel_nb's quick event alone, then while its blocking `def` event is fired on 4 connections."
    alone = wrk_checked(server, "s", TARGETS["s"].event, seconds).rps
    naps = subprocess.Popen([WRK, "-t1", "-c4", f"-d{seconds + 3:g}s", "-H", "Datastar-Request: true", server.url + NAP],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1)   # the naps under way (and past their trial: they stay in worker threads)
        with_nap = wrk_checked(server, "s", TARGETS["s"].event, seconds).rps
    finally: naps.wait(timeout=seconds + 60)
    server.check_event_route(NAP)
    return alone, with_nap


def rotated(items: list, i: int) -> list:
    i %= len(items)
    return items[i:] + items[:i]


def p95(xs: list[float]) -> float:
    "Nearest-rank 95th percentile."
    s = sorted(xs)
    return s[max(0, math.ceil(0.95 * len(s)) - 1)]


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report(latency: dict, rps: dict, beside: tuple[float, float]) -> None:
    med = {k: statistics.median(v) for k, v in latency.items()}
    rps_med = {k: statistics.median(v) for k, v in rps.items()}
    print(f"\n{'app':<8}{'implementation':<35}{'clicks':>7}{'median ms':>11}{'p95 ms':>9}{'req/s (median)':>16}")
    for name in rps:
        key = WRK_ROUTES[name][0]
        label = TARGETS[key].label + {"a-sync": " (sync def)", "b-plain": " (plain Response)",
                                      "s-async": " (async def)"}.get(name, "")
        lat = latency.get(name)
        cols = (f"{len(lat):>7}{med[name]:>11.2f}{p95(lat):>9.2f}" if lat else f"{'-':>7}{'-':>11}{'-':>9}")
        print(f"{name:<8}{label:<35}{cols}{rps_med[name]:>16,.0f}")
    lat_ratio = med["s"] / med["a"]
    print(f"\nlatency    s/a = {lat_ratio:5.2f}  (target <= {TARGETS_LATENCY})  {verdict(lat_ratio <= TARGETS_LATENCY)}")
    for other, target in TARGETS_THROUGHPUT.items():
        ratio = rps_med["s"] / rps_med[other]
        print(f"throughput s/{other} = {ratio:5.2f}  (target >= {target})  {verdict(ratio >= target)}")
    print(f"(info) throughput s/a-sync = {rps_med['s'] / rps_med['a-sync']:.2f}, "
          f"p95 latency s/a = {p95(latency['s']) / p95(latency['a']):.2f}")
    print(f"(info) throughput s/b-plain = {rps_med['s'] / rps_med['b-plain']:.2f}  (b without datastar-py's "
          f"StreamingResponse: the cost of starmodel_nb's own machinery)")
    print(f"throughput by kind: def s/a-sync = {rps_med['s'] / rps_med['a-sync']:.2f}, async def s-async/a = "
          f"{rps_med['s-async'] / rps_med['a']:.2f}  (each against the hand-written route of the same kind)")
    alone, with_nap = beside
    print(f"a blocking def event beside: the quick event at {with_nap:,.0f} req/s while {NAP} (sleeps 50 ms) is "
          f"fired on 4 connections, {alone:,.0f} alone: {with_nap / alone:.2f} of its rate")


def environment() -> str:
    import datastar_py, fasthtml, starlette, uvicorn
    try: import uvloop, httptools  # uvicorn picks these up when installed
    except ImportError: loop = "asyncio + h11"
    else: loop = "uvloop + httptools"
    from importlib.metadata import version
    return (f"cores: {os.cpu_count()}  python {platform.python_version()}  uvicorn {uvicorn.__version__} ({loop})  "
            f"starlette {starlette.__version__}  fasthtml {fasthtml.__version__}  datastar-py {version('datastar-py')}")


# ---------------------------------------------------------------- main

def ensure_assets() -> None:
    from starmodel_nb.adapters.assets import pull_assets
    pull_assets(ASSETS_DIR, say=lambda m: None)


def run(args) -> None:
    n_clicks, chunks = (20, 2) if args.quick else (args.clicks, 4)
    seconds, warmup = (2, 1) if args.quick else (args.seconds, 2)
    rounds = args.rounds or (1 if args.quick else 3)
    print(environment())
    print(f"latency: {n_clicks} clicks per app in {chunks} chunks;  throughput: wrk -t2 -c50 -d{seconds}s, "
          f"{rounds} round(s) after a {warmup} s warm-up")
    ensure_assets()
    keys = list(TARGETS)
    with tempfile.TemporaryDirectory(prefix="sm-bench-") as tmp:
        servers = {}
        try:
            for k in keys: servers[k] = Server(k, Path(tmp))
            for name, (k, path) in WRK_ROUTES.items(): servers[k].check_event_route(path)
            print("\nclick-to-DOM latency ...")
            t0 = time.monotonic()
            latency = measure_latency(servers, keys, n_clicks, chunks)
            print(f"  done in {time.monotonic() - t0:.0f} s\nthroughput ...")
            rps = measure_throughput(servers, list(WRK_ROUTES), rounds, seconds, warmup)
            beside = measure_beside(servers["s"], seconds)
        finally:
            for s in servers.values(): s.stop()
    report(latency, rps, beside)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: 20 clicks per app, one 2 s wrk round")
    ap.add_argument("--rounds", type=int, default=0, help="wrk rounds per app (default 3, quick 1)")
    ap.add_argument("--clicks", type=int, default=200, help="clicks per app (default 200)")
    ap.add_argument("--seconds", type=int, default=5, help="seconds per wrk run (default 5)")
    ap.add_argument("--serve", choices=APPS, help=argparse.SUPPRESS)   # internal: run one app's server
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return 0
    t0 = time.monotonic()
    try: run(args)
    except BenchError as e:
        print(f"\nERROR: {e}", file=sys.stderr)
        return 1
    print(f"\ntotal time {time.monotonic() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
