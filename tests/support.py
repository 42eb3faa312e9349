"Helpers shared by the tests: a live uvicorn server in a thread, local front-end assets, a Chromium launcher."
import os, socket, subprocess, threading, time
from pathlib import Path
import uvicorn

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / ".cache" / "assets"
CHROMIUM = os.environ.get("STARMODEL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]

def local_assets() -> Path:
    "The git-ignored asset cache, filled from package registries on first use."
    if not (ASSETS / ".complete").exists(): subprocess.run([str(ROOT / ".ci" / "fetch-assets")], check=True)
    return ASSETS

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

class TcpRelay:
    "A TCP relay from 127.0.0.1:`port` to `target`, that can be cut (`down()`) and restored (`up()`): a database outage."
    def __init__(self, target: tuple[str, int]):
        import socket as _s
        self.target, self.port, self._conns, self._srv = target, free_port(), [], None
        self.up()
    def up(self):
        import socket as _s
        self._srv = _s.socket(); self._srv.setsockopt(_s.SOL_SOCKET, _s.SO_REUSEADDR, 1)
        self._srv.bind(("127.0.0.1", self.port)); self._srv.listen(64)
        threading.Thread(target=self._accept, args=(self._srv,), daemon=True).start()
    def _accept(self, srv):
        import socket as _s
        while True:
            try: c, _ = srv.accept()
            except OSError: return
            try: u = _s.create_connection(self.target)
            except OSError: c.close(); continue
            self._conns += [c, u]
            for a, b in ((c, u), (u, c)): threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()
    @staticmethod
    def _pipe(a, b):
        import socket as _s
        try:
            while (d := a.recv(65536)): b.sendall(d)
        except OSError: pass
        finally:
            for x in (a, b):
                try: x.shutdown(_s.SHUT_RDWR)
                except OSError: pass
    def down(self):
        import socket as _s
        try: self._srv.shutdown(_s.SHUT_RDWR)   # wakes the accept() blocked in the other thread; close() alone does not
        except OSError: pass
        self._srv.close()
        for c in self._conns:
            try: c.shutdown(_s.SHUT_RDWR); c.close()
            except OSError: pass
        self._conns = []
