"""Notebook kit figures, measured in one run.

- `import starmodel_nb` (and the whole web stack behind `create_app`) against `import fasthtml.common, monsterui.all,
  sqlmodel`, each in fresh interpreters, alternating; target: ratio <= 1.2 (Redis, Alembic, ipywidgets, Playwright and
  the CLI are imported only when used).
- `serve()` to the first answered page (target < 100 ms), the swap of a re-run `serve()` to the first answer from the
  new app, and `stop()` with 50 open live streams (target < 1 s, port free).

Run: `python bench/notebook.py [--runs N]`.
"""
import argparse, socket, statistics, subprocess, sys, time

IMPORTS = {"starmodel_nb": "import starmodel_nb",
           "starmodel_nb + create_app": "import starmodel_nb; starmodel_nb.create_app",
           "fasthtml + monsterui + sqlmodel": "import fasthtml.common, monsterui.all, sqlmodel"}

def import_time(stmt: str) -> float:
    code = f"import time; t = time.perf_counter(); {stmt}; print(time.perf_counter() - t)"
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)

def measure_imports(runs: int) -> dict:
    out = {k: [] for k in IMPORTS}
    for i in range(runs):
        keys = list(IMPORTS)[i % 3:] + list(IMPORTS)[:i % 3]
        for k in keys: out[k].append(import_time(IMPORTS[k]))
    return {k: statistics.median(v) for k, v in out.items()}

def get(url: str, headers: dict | None = None):
    import urllib.request
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=5).read()

def app_factory():
    from starmodel_nb import Entity, event, create_app
    class BenchLamp(Entity):
        model_config = {"scope": "global", "abstract": True, "slug": "lamp"}
        on: bool = False
        @event
        def toggle(self): self.on = not self.on
    return lambda: create_app([BenchLamp], secret_key="bench-secret-key-of-at-least-32-bytes")

def measure_kit(runs: int) -> dict:
    from starmodel_nb.notebook import serve
    make, first, swap, stop = app_factory(), [], [], []
    for i in range(runs):
        app = make()
        t = time.perf_counter(); srv = serve(app, name=f"bench-{i}"); get(srv.url + "/lamp"); first.append(time.perf_counter() - t)
        new = make()
        t = time.perf_counter(); serve(new, name=f"bench-{i}"); get(srv.url + "/lamp"); swap.append(time.perf_counter() - t)
        streams = []
        for _ in range(50):
            s = socket.create_connection(("127.0.0.1", srv.port))
            s.sendall(f"GET /_sm/stream HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\nDatastar-Request: true\r\nAccept: text/event-stream\r\n\r\n".encode())
            streams.append(s)
        for s in streams: s.recv(200)   # the stream's headers and hello have arrived: it is open
        open_streams = new.state.sm.hub.clients
        t = time.perf_counter(); srv.stop(); stop.append(time.perf_counter() - t)
        assert open_streams == 50, open_streams
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", srv.port))   # port free
        for s in streams: s.close()
    return {"serve -> first response": first, "re-serve swap -> first response": swap, "stop with 50 open streams": stop}

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    runs = ap.parse_args().runs
    print(f"python {sys.version.split()[0]}, {runs} runs each, medians\n")
    imp = measure_imports(runs)
    base = imp["fasthtml + monsterui + sqlmodel"]
    for k, v in imp.items(): print(f"import {k:<34}{v * 1000:8.1f} ms   ratio {v / base:5.2f}")
    r = imp["starmodel_nb"] / base
    print(f"\nimport starmodel_nb / baseline = {r:.2f}  (target <= 1.2)  {'PASS' if r <= 1.2 else 'MISS'}\n")
    kit = measure_kit(runs)
    targets = {"serve -> first response": 0.1, "stop with 50 open streams": 1.0}
    for k, v in kit.items():
        med, worst = statistics.median(v), max(v)
        t = targets.get(k)
        verdict = f"(target < {t * 1000:.0f} ms)  {'PASS' if med < t else 'MISS'}" if t else ""
        print(f"{k:<34}median {med * 1000:7.1f} ms   max {worst * 1000:7.1f} ms   {verdict}")

if __name__ == "__main__": main()
