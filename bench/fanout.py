"""Live-stream fan-out (issue 13): one change pushed to N open streams, starmodel_nb's `/_sm/stream` against a
hand-written asyncio SSE fan-out, in the same run.

The hand-written one is the least a server can do on the same stack (uvicorn, plain ASGI): one `asyncio.Queue` per
subscriber, one `put_nowait` each per change, one `send` per message, the same bytes as starmodel_nb's message.
For N = 100, 1,000, 5,000 and 10,000 streams (raw-socket asyncio clients in this process), each server in its own
process: latency from the change to its arrival at the first, median, p95 and last stream; the server's CPU per
change (from /proc); its RSS per open stream; and the time to open the N streams (and per stream: flat across sizes when an open is O(1)). Ratios are starmodel_nb over the
hand-written one (targets: <= 1.2 in latency and CPU, memory no higher). starmodel_nb's change is triggered like the
hand-written one's, by a bare ASGI route that publishes it to the hub (rendered as any change is); a line `event` shows
the same fan-out when the change is a real event request (`/ticker/tick`: its dispatch and response on top).
Run: `python bench/fanout.py` (~6 min on 2 cores), `--sizes 100,1000` or `--rounds 1` for a shorter run.
"""
import argparse, asyncio, os, resource, statistics, sys, tempfile, time
from pathlib import Path
import httpx
from support import AppProcess

SM_APP = '''
from starmodel_nb import Entity, event, create_app
class Ticker(Entity):
    model_config = {"scope": "global"}
    n: int = 0
    @event
    def tick(self): self.n += 1
app = create_app([Ticker], secret_key="bench-fanout-secret-key-of-at-least-32-bytes", stream_per_client=20_000, history="off")

from starmodel_nb.app.bus import EntityChanged
inner, n = app, 0
async def app(scope, receive, send):
    "The app, and GET /_bench/fire: the hub's fan-out alone, triggered as the hand-written one's (a change published and rendered as any)."
    global n
    if scope["type"] != "http" or scope["path"] != "/_bench/fire": return await inner(scope, receive, send)
    n += 1
    inner.sm.hub.publish(EntityChanged("ticker", "global", 1_000_000 + n, {"n": n}, {"n": n}, "global"))
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})
'''

BASE_APP = '''
import asyncio, os
subs = set()
PAYLOAD = b"event: sm\\ndata: " + b"x" * int(os.environ["FANOUT_BYTES"]) + b"\\n\\n"
HEADERS = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-store")]

async def app(scope, receive, send):
    "GET /stream: a live stream; GET /fire: one message to every stream; GET /: 200."
    if scope["type"] == "lifespan":
        while (m := await receive())["type"] != "lifespan.shutdown": await send({"type": "lifespan.startup.complete"})
        return await send({"type": "lifespan.shutdown.complete"})
    if scope["path"] == "/stream":
        q = asyncio.Queue()
        subs.add(q)
        try:
            await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
            await send({"type": "http.response.body", "body": b"event: sm\\ndata: {\\"hello\\":1}\\n\\n", "more_body": True})
            while True: await send({"type": "http.response.body", "body": await q.get(), "more_body": True})
        finally: subs.discard(q)
    if scope["path"] == "/fire":
        for q in subs: q.put_nowait(PAYLOAD)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})
'''

def cpu_seconds(pid: int) -> float:
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")

def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"): return int(line.split()[1]) * 1024
    return 0

class Streams:
    "`n` raw-socket clients holding `path` open on `port`; `arrivals()` waits for each to receive one more message."
    def __init__(self, port: int, path: str, n: int):
        self.port, self.path, self.n = port, path, n
        self.conns, self.got = [], []
    async def open(self):
        req = (f"GET {self.path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nAccept: text/event-stream\r\n"
               "Datastar-Request: true\r\n\r\n").encode()
        sem = asyncio.Semaphore(200)
        async def one():
            async with sem:
                r, w = await asyncio.open_connection("127.0.0.1", self.port)
                w.write(req)
                buf = b""
                while b"hello" not in buf:   # the headers and the hello
                    if not (got := await r.read(65536)): raise SystemExit(f"a stream was closed before its hello: {buf[:300]!r}")
                    buf += got
                return r, w
        self.conns = await asyncio.gather(*[one() for _ in range(self.n)])
    async def arrivals(self, fire) -> list[float]:
        "Fire one change (`await fire()`); seconds from just before it to its arrival on each stream, sorted."
        async def wait(r):   # one whole message (all of it fits one read here); a heartbeat (": ping") is not one
            buf = b""
            while (at := buf.find(b"event: sm")) < 0 or b"\n\n" not in buf[at:]: buf += await r.read(65536)   # (chunked: a frame follows)
            return time.perf_counter()
        waits = [asyncio.ensure_future(wait(r)) for r, _ in self.conns]
        await asyncio.sleep(0)
        t0 = time.perf_counter()
        await fire()
        return sorted(t - t0 for t in await asyncio.gather(*waits))
    def close(self):
        for _, w in self.conns: w.close()

async def measure(server: AppProcess, path: str, fire_path: str, n: int, changes: int) -> dict:
    pid, client = server.proc.pid, httpx.AsyncClient(base_url=server.url, headers={"Datastar-Request": "true"}, timeout=120)
    rss0 = rss_bytes(pid)
    s = Streams(server.port, path, n)
    t = time.perf_counter(); await s.open(); opened = time.perf_counter() - t
    await asyncio.sleep(0.5)
    rss = (rss_bytes(pid) - rss0) / n
    async def fire(): assert (await client.get(fire_path)).status_code == 200
    await s.arrivals(fire)                                  # warm up
    lat, cpu = [], 0.0
    for _ in range(changes):
        c0 = cpu_seconds(pid)
        lat.append(await s.arrivals(fire))
        cpu += cpu_seconds(pid) - c0
        await asyncio.sleep(0.05)
    s.close(); await client.aclose()
    await asyncio.sleep(1.0)                                # the server notices the closed streams
    pick = lambda f: statistics.median(f(x) for x in lat) * 1000
    return {"first": pick(lambda x: x[0]), "median": pick(lambda x: x[len(x) // 2]), "p95": pick(lambda x: x[int(len(x) * 0.95) - 1]),
            "last": pick(lambda x: x[-1]), "cpu": cpu / changes * 1000, "rss": rss / 1024, "open": opened}

def message_bytes(server: AppProcess) -> int:
    "The size of the message starmodel_nb sends for one change of the ticker."
    async def go():
        s = Streams(server.port, "/_sm/stream", 1); await s.open()
        r, _ = s.conns[0]
        async with httpx.AsyncClient(base_url=server.url, headers={"Datastar-Request": "true"}) as c:
            t = asyncio.ensure_future(r.read(65536)); await asyncio.sleep(0.1); await c.get("/ticker/tick")
            data = await t
        s.close()
        line = next(l for l in data.split(b"\n") if l.startswith(b"data: "))
        return len(line) - 6
    return asyncio.run(go())

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100,1000,5000,10000")
    ap.add_argument("--changes", type=int, default=15)
    ap.add_argument("--rounds", type=int, default=2, help="fresh servers per size and side, taking turns; medians are printed")
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))   # the servers inherit it
    sizes = [int(x) for x in a.sizes.split(",")]
    if max(sizes) + 100 > hard: sys.exit(f"open files limited to {hard}: raise it (ulimit -Hn) for {max(sizes)} streams")
    print(f"cores: {os.cpu_count()}, open files: {hard}")
    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        (work / "fan_sm.py").write_text(SM_APP); (work / "fan_base.py").write_text(BASE_APP)
        sm = AppProcess(work, "fan_sm:app", {}, probe="/ticker")
        try: size = message_bytes(sm)
        finally: sm.stop()
        print(f"message: {size} bytes of data; medians over at least {a.changes} changes per size and over {a.rounds} rounds of fresh servers\n")
        print(f"{'streams':>8} {'server':<12} {'first':>8} {'median':>8} {'p95':>8} {'last':>8} {'cpu/change':>11} {'KiB/stream':>11} {'open':>7} {'per stream':>11}")
        for n in sizes:
            changes = max(a.changes, min(300, 30_000 // n))   # enough for /proc's 10 ms CPU ticks, and the machine's noise, to even out
            runs = [("hand-written", "fan_base:app", "/stream", "/fire"), ("starmodel_nb", "fan_sm:app", "/_sm/stream", "/_bench/fire"),
                    ("event", "fan_sm:app", "/_sm/stream", "/ticker/tick")]
            tries = {name: [] for name, *_ in runs}
            for r in range(a.rounds):   # the servers take turns, so that the machine's drift falls on each alike
                for name, module, path, fire in (runs if r % 2 == 0 else runs[::-1]):
                    server = AppProcess(work, module, {"FANOUT_BYTES": str(size)}, probe="/")
                    try: tries[name].append(asyncio.run(measure(server, path, fire, n, changes if name != "event" else max(3, changes // 2))))
                    finally: server.stop()
            got = {name: {k: statistics.median(t[k] for t in ts) for k in ts[0]} for name, ts in tries.items()}
            for k, r in got.items():
                print(f"{n:>8} {k:<12} {r['first']:>6.1f}ms {r['median']:>6.1f}ms {r['p95']:>6.1f}ms {r['last']:>6.1f}ms "
                      f"{r['cpu']:>9.1f}ms {r['rss']:>10.1f} {r['open']:>6.2f}s {r['open'] / n * 1e6:>8.0f} µs")
            b, s = got["hand-written"], got["starmodel_nb"]
            print(f"{'':>8} ratio        median {s['median'] / b['median']:.2f}  p95 {s['p95'] / b['p95']:.2f}  last {s['last'] / b['last']:.2f}  "
                  f"cpu {s['cpu'] / b['cpu']:.2f}  memory {s['rss'] / max(b['rss'], 0.1):.2f}  (targets <= 1.2)  "
                  f"open {s['open'] / b['open']:.2f} (O(1) each: see the time per stream across sizes)\n")

if __name__ == "__main__": main()
