"""What the benchmarks share: a free port, a fresh Postgres database, an app in a uvicorn subprocess, and `wrk`."""
import os, re, socket, subprocess, sys, time, uuid
from pathlib import Path
from urllib.parse import urlsplit
import httpx

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

def free_port() -> int:
    with socket.socket() as s: s.bind(("127.0.0.1", 0)); return s.getsockname()[1]

def pg_database(base: str):
    "A fresh Postgres database on the server of `base`: (url, drop)."
    from sqlalchemy import create_engine, text
    name, u = f"sm_bench_{uuid.uuid4().hex[:8]}", urlsplit(base)
    admin = create_engine("postgresql+psycopg://" + base.split("://", 1)[1], isolation_level="AUTOCOMMIT")
    with admin.connect() as c: c.execute(text(f'CREATE DATABASE "{name}"'))
    def drop():
        with admin.connect() as c:
            c.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
            c.execute(text(f'DROP DATABASE "{name}"'))
    return f"{u.scheme}://{u.netloc}/{name}", drop

class AppProcess:
    "The app `module:app` of `workdir` in a uvicorn subprocess with `env` added, once `probe` answers: `url`, `stop()`."
    def __init__(self, workdir: Path, module: str, env: dict, probe: str = "/"):
        self.port = free_port()
        self.proc = subprocess.Popen([sys.executable, "-m", "uvicorn", module, "--port", str(self.port), "--no-access-log",
                                      "--log-level", "warning"], cwd=workdir, env={**os.environ, **env})
        self.url = f"http://127.0.0.1:{self.port}"
        for _ in range(400):
            try: httpx.get(self.url + probe, timeout=1); return
            except httpx.HTTPError: time.sleep(0.05)
        raise SystemExit(f"{module} did not start on {self.url}")
    def stop(self):
        "Stop it; killed if it is still waiting on open streams after 5 s."
        self.proc.terminate()
        try: self.proc.wait(5)
        except subprocess.TimeoutExpired: self.proc.kill(); self.proc.wait()

def wrk(url: str, seconds: float = 5, script: str | None = None) -> float:
    "Requests/s of `wrk -t2 -c50` on `url` for `seconds` (with the Lua `script` file, if any) and Datastar's header; any non-2xx answer stops the benchmark."
    return wrk_run(url, seconds, script)[0]

def wrk_run(url: str, seconds: float = 5, script: str | None = None) -> tuple[float, int]:
    "`wrk`'s requests/s and the number of requests it completed, as `wrk` does."
    extra = ["-s", script] if script else []
    out = subprocess.run(["wrk", "-t2", "-c50", f"-d{seconds:g}s", "-H", "Datastar-Request: true", *extra, url],
                         capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out: raise SystemExit(f"non-2xx answers from {url}:\n{out}")
    if m := re.search(r"Socket errors: .*", out): print(f"  ({url}: {m.group(0)})")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), int(re.search(r"(\d+) requests in", out).group(1))
