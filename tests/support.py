"Helpers shared by the tests: waiting for a condition (`wait_until`) and for nothing to happen (`stays`), a live uvicorn server in a thread, local front-end assets, a Chromium launcher."
import asyncio, os, socket, threading, time
from contextlib import contextmanager
from pathlib import Path
import uvicorn

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / ".cache" / "assets"
CHROMIUM = os.environ.get("STARMODEL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

def wait_until(predicate, timeout: float = 20, every: float = 0.02, what: str = "the condition", ignore=()):
    """Poll `predicate()` until it is truthy and return that value: how a test waits for something to be ready.
    `timeout` is only a hang guard (an `AssertionError` naming `what`), never a measure: a pass returns as soon as it holds.
    `what` may be a function, called on a timeout to say what was seen then. Exceptions of the types in `ignore` count
    as "not yet" (a server not listening yet); any other, an assertion in `predicate` included, ends the wait at once."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if got := predicate(): return got
        except ignore: pass
        if time.monotonic() > deadline: raise AssertionError(f"waited {timeout} s (a hang guard) for {what() if callable(what) else what}")
        time.sleep(every)

QUIET = 0.3   # seconds: how long `stays` watches for what must not happen

def stays(value, seconds: float = QUIET, every: float = 0.02, what: str = "it", page=None):
    """The tests' one fixed wait, for what must *not* happen (a change that must not arrive, work that must not run on):
    read `value()` now and again every `every` seconds for `seconds`, fail as soon as it differs from the first reading,
    and return that value. Nothing can prove that nothing more will ever come; this is the window a test watches for it,
    named and kept in one place. With `page` (Playwright), the pauses are `page.wait_for_timeout`, so the page's
    events (errors, dialogs) are taken in meanwhile; in a coroutine, run it off the loop: `await asyncio.to_thread(stays, ...)`."""
    pause = time.sleep if page is None else (lambda s: page.wait_for_timeout(s * 1000))
    first, end = value(), time.monotonic() + seconds
    while time.monotonic() < end:
        pause(every)
        assert (now := value()) == first, f"{what} changed from {first!r} to {now!r} within {seconds} s"
    return first

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]

def local_assets() -> Path:
    """The git-ignored asset cache, filled from package registries on first use (files checked by sha256), with the
    pages' stylesheet built by Tailwind's pinned CLI when missing or stale (required under CI=true; else, without
    Node.js, pages compile their CSS in the browser)."""
    import warnings
    from starmodel_nb.adapters.assets import AssetsError, pull_assets
    from starmodel_nb.adapters.css import build_css, stylesheet
    got = pull_assets(ASSETS, say=lambda m: None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if stylesheet(str(got)) != "browser": return got
    try: build_css(got, say=lambda m: None)
    except AssetsError:
        if os.environ.get("CI") == "true": raise
    return got

class LiveServer:
    "Serve `app` with uvicorn on 127.0.0.1 in a daemon thread; `url`, `stop()`."
    def __init__(self, app, port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    access_log=False, lifespan="on", timeout_graceful_shutdown=1))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline: raise RuntimeError("server did not start")
            time.sleep(0.01)
    def stop(self):
        "Close the app's live streams on its own loop, then shut uvicorn down."
        sm = getattr(getattr(self.server.config.app, "state", None), "sm", None)
        if sm is not None and self.server.servers:
            self.server.servers[0].get_loop().call_soon_threadsafe(sm.hub.close)
        self.server.should_exit = True
        self.thread.join(5)
    def __enter__(self): return self
    def __exit__(self, *a): self.stop()

def browser_available() -> bool: return Path(CHROMIUM).exists()

REDIS = os.environ.get("STARMODEL_TEST_REDIS_URL")
NO_REDIS = "STARMODEL_TEST_REDIS_URL is not set (a Redis to test against, e.g. redis://127.0.0.1:6379/15)"

@contextmanager
def notebook_kernel(cells: list[str]):
    "A real Jupyter kernel (nbclient) over `cells`: yields `run(i)`, which runs cell `i`, fails on an error and answers what it printed."
    import nbformat
    from nbclient import NotebookClient
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    client = NotebookClient(nb, timeout=60, kernel_name="python3")
    with client.setup_kernel():
        def run(i):
            client.execute_cell(nb.cells[i], i)
            errs = [o for o in nb.cells[i].outputs if o.get("output_type") == "error"]
            assert not errs, errs[0].get("evalue")
            return "".join(o.get("text", "") for o in nb.cells[i].outputs if o.get("output_type") == "stream").strip()
        yield run

PG = os.environ.get("STARMODEL_TEST_DATABASE_URL")
NO_PG = "STARMODEL_TEST_DATABASE_URL is not set (a Postgres to test against)"

@contextmanager
def fresh_pg_database(prefix: str = "sm_test"):
    "A new, empty database on the STARMODEL_TEST_DATABASE_URL server, as a URL; dropped afterwards."
    import uuid
    from urllib.parse import urlsplit
    from sqlalchemy import create_engine, text
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine("postgresql+psycopg://" + PG.split("://", 1)[1], isolation_level="AUTOCOMMIT")
    with admin.connect() as c: c.execute(text(f'CREATE DATABASE "{name}"'))
    u = urlsplit(PG)
    try: yield f"{u.scheme}://{u.netloc}/{name}"
    finally:
        with admin.connect() as c:
            c.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
            c.execute(text(f'DROP DATABASE "{name}"'))
        admin.dispose()

class TcpRelay:
    "A TCP relay from 127.0.0.1:`port` to `target`, that can be cut (`down()`) and restored (`up()`): a database outage."
    def __init__(self, target: tuple[str, int]):
        self.target, self.port, self._conns, self._srv = target, free_port(), [], None
        self.accepted = 0   # connections made to it: a client's tries (with the target away, each is hung up on at once)
        self.up()
    def up(self):
        self._srv = socket.socket(); self._srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._srv.bind(("127.0.0.1", self.port)); self._srv.listen(64)
        threading.Thread(target=self._accept, args=(self._srv,), daemon=True).start()
    def _accept(self, srv):
        while True:
            try: c, _ = srv.accept()
            except OSError: return
            self.accepted += 1
            try: u = socket.create_connection(self.target)
            except OSError: c.close(); continue
            self._conns += [c, u]
            for a, b in ((c, u), (u, c)): threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()
    @staticmethod
    def _pipe(a, b):
        try:
            while (d := a.recv(65536)): b.sendall(d)
        except OSError: pass
        finally:
            for x in (a, b):
                try: x.shutdown(socket.SHUT_RDWR)
                except OSError: pass
    def down(self):
        try: self._srv.shutdown(socket.SHUT_RDWR)   # wakes the accept() blocked in the other thread; close() alone does not
        except OSError: pass
        self._srv.close()
        for c in self._conns:
            try: c.shutdown(socket.SHUT_RDWR); c.close()
            except OSError: pass
        self._conns = []

class Uvicorn:
    "`target` (`module:app`, in `cwd`) served by uvicorn in a process of its own on a free port, with `env` added; `ready()` waits for it."
    def __init__(self, target: str, cwd, env: dict, probe: str = "/"):
        import subprocess, sys
        self.port, self.probe = free_port(), probe
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([sys.executable, "-m", "uvicorn", target, "--port", str(self.port), "--no-access-log",
                                      "--log-level", "warning"], cwd=cwd, env={**os.environ, **env})
    def ready(self, timeout: float = 60) -> "Uvicorn":
        "Return once `probe` answers (`timeout` is only a hang guard); fail if the process ended."
        import httpx
        def answers():
            assert self.proc.poll() is None, f"{self.url} exited {self.proc.returncode}"
            return httpx.get(self.url + self.probe, timeout=10)
        wait_until(answers, timeout=timeout, every=0.05, ignore=httpx.HTTPError, what=f"{self.url} to start")
        return self
    def stop(self):
        if self.proc.poll() is None: self.proc.terminate(); self.proc.wait(10)
    def kill(self): self.proc.kill(); self.proc.wait(10)

def uvicorns(n: int, target: str, cwd, env: dict, probe: str = "/") -> list[Uvicorn]:
    "`n` instances of `target`, started together, once all are ready."
    out = [Uvicorn(target, cwd, env, probe) for _ in range(n)]
    try: return [u.ready() for u in out]
    except BaseException:
        for u in out: u.stop()
        raise

class OwnRedis:
    "A redis-server of a test's own on a free port (never the shared one), without persistence, that the test may stop and start."
    def __init__(self):
        import shutil
        self.exe = shutil.which("redis-server")
        if not self.exe: raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.port, self.proc = free_port(), None
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.start()
    def start(self):
        "Start it (again, empty) and return once it answers PING."
        import subprocess, redis
        self.proc = subprocess.Popen([self.exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                with redis.Redis(port=self.port, socket_connect_timeout=0.2) as r: r.ping(); return
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.proc.poll() is not None: self.proc.kill(); raise RuntimeError("redis-server did not start")
                time.sleep(0.05)
    def stop(self):
        import subprocess
        if self.proc.poll() is not None: return
        self.proc.terminate()
        try: self.proc.wait(5)
        except subprocess.TimeoutExpired: self.proc.kill(); self.proc.wait()

def arun(coro):
    "`asyncio.run(coro)` in a thread of its own: Playwright's sync API may own this thread's event loop."
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(1) as ex: return ex.submit(asyncio.run, coro).result()
