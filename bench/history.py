"""History figures, in one run: what recording every committed change costs an event.

The same memory-store event (`GET /hits/increment`, a global counter) is served by three apps, each in its own
uvicorn process, that differ only in the `history` setting: `off`, `memory` (the bounded ring) and `sql` (the
`starmodel_history` table, on a SQLite file, and on Postgres when STARMODEL_TEST_DATABASE_URL is set). `wrk -t2 -c50`
measures requests/s, rounds alternating between the apps (rotating the order) so that drift of the machine affects
them alike. Targets: the ring costs at most 5 %, the table at most 30 % of the events' throughput without history.
Run: `python bench/history.py [--seconds 5] [--rounds 3]`.
"""
import argparse, os, shutil, statistics, tempfile, time
from pathlib import Path
from support import AppProcess, pg_database, wrk

APP = '''
from starmodel_nb import Entity, event, create_app
class Hits(Entity):
    model_config = {"scope": "global"}
    n: int = 0
    @event
    def increment(self): self.n += 1
app = create_app([Hits], secret_key="bench-secret-key-of-at-least-32-bytes")
'''

def Server(workdir: Path, history: str, database_url: str) -> AppProcess:
    "The bench app in a uvicorn subprocess with `history` on `database_url`."
    return AppProcess(workdir, "bench_history_app:app", {"STARMODEL_HISTORY": history, "STARMODEL_DATABASE_URL": database_url}, "/hits")

def table_rows(database_url: str) -> int:
    from sqlalchemy import create_engine, text
    url = "postgresql+psycopg://" + database_url.split("://", 1)[1] if database_url.startswith("postgresql") else database_url
    with create_engine(url).connect() as c: return c.execute(text("SELECT count(*) FROM starmodel_history")).scalar()

def in_process(n: int = 20_000) -> str:
    "Microseconds per event through the dispatcher (no HTTP), history off and in the ring, alternating 3 times."
    import asyncio
    from starmodel_nb import Entity, event
    from starmodel_nb.app.bus import LocalBus
    from starmodel_nb.app.dispatcher import Dispatcher
    from starmodel_nb.app.history import MemoryHistory
    from starmodel_nb.adapters.persistence.memory import MemoryRepository
    class Tick(Entity):
        model_config = {"scope": "global"}
        n: int = 0
        @event
        async def increment(self): self.n += 1
    spec = Tick.__sm_events__["increment"]
    async def per_event(history):
        repo, d = MemoryRepository(), None
        d = Dispatcher(lambda c: repo, LocalBus(), history)
        t = time.perf_counter()
        for _ in range(n):
            async for _s in d.run(Tick, spec, "global", "global", {}): pass
        return (time.perf_counter() - t) / n * 1e6
    async def go():
        got = {"off": [], "ring": []}
        for _ in range(3): got["off"].append(await per_event(None)); got["ring"].append(await per_event(MemoryHistory()))
        return {k: statistics.median(v) for k, v in got.items()}
    r = asyncio.run(go())
    return f"off {r['off']:.1f} µs, ring {r['ring']:.1f} µs per event (+{r['ring'] - r['off']:.1f} µs)"

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sm-bench-history-"))
    (work / "bench_history_app.py").write_text(APP)
    apps, drops = {"off": ("off", f"sqlite:///{work}/off.db"), "memory": ("memory", f"sqlite:///{work}/memory.db"),
                   "sqlite": ("sql", f"sqlite:///{work}/history.db")}, []
    if pg := os.environ.get("STARMODEL_TEST_DATABASE_URL"):
        url, drop = pg_database(pg); drops.append(drop); apps["postgres"] = ("sql", url)
    else: print("(STARMODEL_TEST_DATABASE_URL not set: Postgres skipped)")
    servers = {k: Server(work, h, u) for k, (h, u) in apps.items()}
    try:
        print(f"cores: {os.cpu_count()}; wrk -t2 -c50 -d{a.seconds:g}s, {a.rounds} rounds, medians\n")
        for s in servers.values(): wrk(s.url + "/hits/increment", 1)
        got = {k: [] for k in servers}
        for r in range(a.rounds):
            order = list(servers)[r % len(servers):] + list(servers)[:r % len(servers)]
            for k in order: got[k].append(wrk(servers[k].url + "/hits/increment", a.seconds))
        rps = {k: statistics.median(v) for k, v in got.items()}
        targets = {"memory": 0.05, "sqlite": 0.30, "postgres": 0.30}
        for k, v in rps.items():
            cost = 1 - statistics.median(x / o for x, o in zip(got[k], got["off"]))   # per round, against off in the same round
            line = f"history {k:<9}{v:>9,.0f} req/s   cost {cost * 100:5.1f} %"
            if k in targets: line += f"   (target <= {targets[k] * 100:.0f} %)  {'PASS' if cost <= targets[k] else 'MISS'}"
            print(line)
        for k in ("sqlite", "postgres"):
            if k in servers:
                servers[k].stop(); time.sleep(0.2)   # shutting down writes what is buffered
                print(f"rows in {k}'s starmodel_history after the run: {table_rows(apps[k][1]):,}")
        print(f"\nin process, the unit of work alone: {in_process()}")
    finally:
        for s in servers.values():
            if s.proc.poll() is None: s.stop()
        for d in drops: d()
        shutil.rmtree(work, ignore_errors=True)

if __name__ == "__main__": main()
