"""SQL store figures, in one run.

- Event requests/s of one record event on SQLite and on Postgres against the same event on the memory store: each app
  in its own uvicorn process, `wrk -t2 -c50` on `GET /…/increment` (global counter vs. record 1), rounds alternating.
- The list page (`GET /items`, first page, HTML) at 1,000 and at 100,000 rows, on SQLite and Postgres, timed in
  process; target: 100k / 1k <= 1.5 (a page must not cost more as the table grows).

Postgres comes from STARMODEL_TEST_DATABASE_URL (a fresh database is made and dropped); without it, SQLite only.
Run: `python bench/sql.py [--seconds 5] [--rounds 3]`.
"""
import argparse, os, shutil, statistics, tempfile, time
from pathlib import Path
from support import AppProcess, pg_database, wrk

APP = '''
import os
from starmodel_nb import Entity, Field, event, create_app
class Hits(Entity):
    model_config = {"scope": "global"}
    n: int = 0
    @event
    def increment(self): self.n += 1
class Tally(Entity, table=True):
    id: int | None = Field(default=None, primary_key=True)
    n: int = 0
    @event
    def increment(self): self.n += 1
app = create_app([Hits, Tally], secret_key="bench-secret-key-of-at-least-32-bytes")
'''

class Server(AppProcess):
    "The bench app in a uvicorn subprocess on `database_url`, with the record its events change."
    def __init__(self, workdir: Path, database_url: str):
        super().__init__(workdir, "bench_sql_app:app", {"STARMODEL_DATABASE_URL": database_url}, "/tallys")
        import httpx
        httpx.post(self.url + "/tallys", json={"n": 0}, headers={"Accept": "application/json"}).raise_for_status()

def events(workdir: Path, urls: dict, seconds: float, rounds: int) -> dict:
    servers = {k: Server(workdir, u) for k, u in urls.items()}
    paths = {"memory": "/hits/increment", **{k: "/tallys/1/increment" for k in urls if k != "memory"}}
    try:
        for k, s in servers.items(): wrk(s.url + paths[k], 1)
        got = {k: [] for k in servers}
        for r in range(rounds):
            order = list(servers)[r % len(servers):] + list(servers)[:r % len(servers)]
            for k in order: got[k].append(wrk(servers[k].url + paths[k], seconds))
        return {k: statistics.median(v) for k, v in got.items()}
    finally:
        for s in servers.values(): s.stop()

def list_page(database_url: str, rows: int, runs: int = 30) -> float:
    "Median seconds of the first list page with `rows` rows, in process."
    from sqlalchemy import insert, text
    from starlette.testclient import TestClient
    from starmodel_nb import Entity, Field, create_app
    class Item(Entity, table=True):
        model_config = {"slug": f"item{rows}", "plural": "items"}
        __tablename__ = f"bench_item_{rows}"
        id: int | None = Field(default=None, primary_key=True)
        name: str
        price: float = 0.0
        stock: int = 0
    app = create_app([Item], database_url=database_url, secret_key="bench-secret-key-of-at-least-32-bytes")
    repo = app.sm.repo_for(Item)
    repo.prepare([Item])
    with repo.engine.begin() as c:
        c.execute(text(f"DELETE FROM bench_item_{rows}"))
        for i in range(0, rows, 10_000):
            c.execute(insert(Item.__table__), [{"name": f"item {j}", "price": j / 10, "stock": j % 50, "sm_version": 1}
                                               for j in range(i, min(i + 10_000, rows))])
    cli = TestClient(app)
    for _ in range(5): cli.get("/items")
    times = []
    for _ in range(runs):
        t = time.perf_counter(); r = cli.get("/items"); times.append(time.perf_counter() - t)
        assert r.status_code == 200 and "item 19" in r.text
    with repo.engine.begin() as c: c.execute(text(f"DROP TABLE bench_item_{rows}"))
    return statistics.median(times)

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sm-bench-sql-"))
    (work / "bench_sql_app.py").write_text(APP)
    urls, drops = {"memory": f"sqlite:///{work}/unused.db", "sqlite": f"sqlite:///{work}/bench.db"}, []
    if pg := os.environ.get("STARMODEL_TEST_DATABASE_URL"):
        urls["postgres"], drop = pg_database(pg); drops.append(drop)
    else: print("(STARMODEL_TEST_DATABASE_URL not set: Postgres skipped)")
    try:
        print(f"cores: {os.cpu_count()}; wrk -t2 -c50 -d{a.seconds}s, {a.rounds} rounds, medians\n")
        rps = events(work, urls, a.seconds, a.rounds)
        for k, v in rps.items(): print(f"event req/s  {k:<9}{v:>9,.0f}   ratio to memory {v / rps['memory']:.2f}")
        print()
        for k in [k for k in urls if k != "memory"]:
            small, big = list_page(urls[k], 1_000), list_page(urls[k], 100_000)
            r = big / small
            print(f"list page  {k:<9} 1k rows {small * 1000:6.2f} ms   100k rows {big * 1000:6.2f} ms   "
                  f"ratio {r:.2f}  (target <= 1.5)  {'PASS' if r <= 1.5 else 'MISS'}")
    finally:
        for d in drops: d()
        shutil.rmtree(work, ignore_errors=True)

if __name__ == "__main__": main()
