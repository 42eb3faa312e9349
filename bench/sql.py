"""SQL store figures, in one run.

- Event requests/s of one record event (`GET /tallies/{id}/increment`, `n += 1`) on SQLite and on Postgres, on one hot row
  and on rows spread over 1,000 keys (each request a random one), against
  - the same event on the memory store (a global counter: its rate does not depend on the key), target >= 0.5x;
  - the same read-modify-write written by hand with FastHTML + SQLModel + datastar-py (a `def` route: `Session`, `get`,
    `n += 1`, `commit`, a `DatastarResponse`), on the same database settings (SQLite in WAL mode).
  Every app runs in its own uvicorn process; `wrk -t2 -c50`, rounds rotating the order. Afterwards the rows' sum is
  compared with the requests wrk saw answered: starmodel_nb must have applied every one (the hand-written route has no
  version check and loses some under concurrency: printed for information).
- The list page (`GET /items`, first page, HTML) at 1,000 and at 100,000 rows, on SQLite and Postgres, timed in
  process; target: 100k / 1k <= 1.5 (a page must not cost more as the table grows).

Postgres comes from STARMODEL_TEST_DATABASE_URL (fresh databases are made and dropped); without it, SQLite only.
Run: `python bench/sql.py [--seconds 5] [--rounds 3] [--no-list]`.
"""
import argparse, os, shutil, statistics, tempfile, time
from pathlib import Path
from support import AppProcess, pg_database, wrk_run

ROWS = 1000
SECRET = "bench-secret-key-of-at-least-32-bytes"
APP = f'''
from starmodel_nb import Entity, Field, event, create_app
class Hits(Entity):
    model_config = {{"scope": "global"}}
    n: int = 0
    @event
    def increment(self): self.n += 1
class Tally(Entity, table=True):
    id: int | None = Field(default=None, primary_key=True)
    n: int = 0
    @event
    def increment(self): self.n += 1
app = create_app([Hits, Tally], secret_key="{SECRET}")
'''
HAND = f'''
import os
from datastar_py import ServerSentEventGenerator as SSE
from datastar_py.fasthtml import DatastarResponse
from fasthtml.common import FastHTML, Span, to_xml
from sqlalchemy import event
from sqlmodel import Field, Session, SQLModel, create_engine, select

class Tally(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    n: int = 0

url = os.environ["BENCH_DATABASE_URL"]
if url.startswith("sqlite"):   # the same settings starmodel_nb gives SQLite: WAL, a busy timeout
    engine = create_engine(url, connect_args={{"check_same_thread": False, "timeout": 10}})
    @event.listens_for(engine, "connect")
    def _pragmas(conn, _):
        conn.execute("PRAGMA journal_mode=WAL"); conn.execute("PRAGMA synchronous=NORMAL"); conn.execute("PRAGMA busy_timeout=10000")
else: engine = create_engine("postgresql+psycopg://" + url.split("://", 1)[1], pool_size=10, max_overflow=10)
SQLModel.metadata.create_all(engine)
with Session(engine) as s:
    if s.exec(select(Tally)).first() is None: s.add_all([Tally() for _ in range({ROWS})]); s.commit()

app = FastHTML()

@app.get("/tallies/{{id}}/increment")
def increment(id: int):
    with Session(engine) as s:
        t = s.get(Tally, id)
        t.n += 1
        s.commit()
        return DatastarResponse([SSE.patch_signals({{"tally": {{"n": t.n}}}}), SSE.patch_elements(to_xml(Span(t.n, id=f"tally-{{id}}")))])
'''
SPREAD = f'''
request = function() return wrk.format(nil, "/tallies/" .. math.random(1, {ROWS}) .. "/increment") end
'''

def start(work: Path, name: str, url: str) -> AppProcess:
    "The app `name` (`sm` or `hand`) on `url`, its {ROWS} rows in place."
    if name == "hand": return AppProcess(work, "bench_sql_hand:app", {"BENCH_DATABASE_URL": url}, "/tallies/1/increment")
    import httpx
    s = AppProcess(work, "bench_sql_app:app", {"STARMODEL_DATABASE_URL": url}, "/tallies")
    with httpx.Client(base_url=s.url, headers={"Accept": "application/json"}) as c:
        for _ in range(ROWS): c.post("/tallies", json={"n": 0}).raise_for_status()
    return s

def applied(url: str) -> int:
    "The sum of the rows' counts in the database at `url`."
    from sqlalchemy import create_engine, text
    eng = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with eng.connect() as c: return c.execute(text("SELECT COALESCE(SUM(n), 0) FROM tally")).scalar_one()
    finally: eng.dispose()

def events(work: Path, dbs: dict, sides: tuple, seconds: float, rounds: int) -> tuple[dict, dict]:
    "Median requests/s per (app, case), and per app (answered requests, increments applied)."
    apps = {"memory": ("sm", dbs["sqlite"]("memory")), **{f"{side} {db}": (side, mk(f"{side}-{db}")) for side in sides for db, mk in dbs.items()}}
    servers = {k: start(work, side, url) for k, (side, url) in apps.items()}
    script = work / "spread.lua"; script.write_text(SPREAD)
    path = lambda k: "/hits/increment" if k == "memory" else "/tallies/1/increment"
    answered = dict.fromkeys(servers, 0)
    try:
        for k, s in servers.items(): answered[k] += wrk_run(s.url + path(k), 1)[1]
        got = {(k, case): [] for k in servers for case in ("hot", "spread")}
        for r in range(rounds):
            order = list(servers)[r % len(servers):] + list(servers)[:r % len(servers)]
            for case in ("hot", "spread"):
                for k in order:
                    rps, n = wrk_run(servers[k].url + path(k), seconds, str(script) if case == "spread" and k != "memory" else None)
                    got[k, case].append(rps); answered[k] += n
    finally:
        for s in servers.values(): s.stop()
    counts = {k: (answered[k], applied(url)) for k, (side, url) in apps.items() if k != "memory"}
    return {k: statistics.median(v) for k, v in got.items()}, counts

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
    app = create_app([Item], database_url=database_url, secret_key=SECRET)
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
    ap.add_argument("--no-list", action="store_true", help="skip the list-page figures")
    ap.add_argument("--no-hand", action="store_true", help="skip the hand-written routes")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sm-bench-sql-"))
    (work / "bench_sql_app.py").write_text(APP)
    (work / "bench_sql_hand.py").write_text(HAND)
    dbs, drops = {"sqlite": lambda name: f"sqlite:///{work}/{name}.db"}, []
    if pg := os.environ.get("STARMODEL_TEST_DATABASE_URL"):
        def fresh(name):
            url, drop = pg_database(pg); drops.append(drop); return url
        dbs["postgres"] = fresh
    else: print("(STARMODEL_TEST_DATABASE_URL not set: Postgres skipped)")
    try:
        print(f"cores: {os.cpu_count()}; wrk -t2 -c50 -d{a.seconds:g}s, {a.rounds} rounds, medians; "
              f"hot: one row; spread: a random row of {ROWS:,} per request\n")
        sides = ("sm",) if a.no_hand else ("sm", "hand")
        rps, counts = events(work, dbs, sides, a.seconds, a.rounds)
        mem = {c: rps["memory", c] for c in ("hot", "spread")}
        print(f"{'event req/s':<15}{'hot':>8}{'spread':>8}   {'/memory':>13}   {'/hand-written':>13}   increments applied / answered")
        print(f"{'memory':<15}{mem['hot']:>8,.0f}{mem['spread']:>8,.0f}")
        for db in dbs:
            for side in sides:
                k, r = f"{side} {db}", {c: rps[f"{side} {db}", c] for c in ("hot", "spread")}
                to_mem = "  ".join(f"{r[c] / mem[c]:5.2f}" for c in r)
                to_hand = "  ".join(f"{r[c] / rps[f'hand {db}', c]:5.2f}" for c in r) if side == "sm" and "hand" in sides else ""
                n, got = counts[k]
                lost = "exact" if got >= n else f"{n - got:,} lost"
                print(f"{k:<15}{r['hot']:>8,.0f}{r['spread']:>8,.0f}   {to_mem:>13}   {to_hand:>13}   {got:,} / {n:,} ({lost})")
        print("\ntarget: sm / memory >= 0.5 on both cases, and every increment applied")
        if a.no_list: return
        print()
        for db, mk in dbs.items():
            url = mk("list")
            small, big = list_page(url, 1_000), list_page(url, 100_000)
            r = big / small
            print(f"list page  {db:<9} 1k rows {small * 1000:6.2f} ms   100k rows {big * 1000:6.2f} ms   "
                  f"ratio {r:.2f}  (target <= 1.5)  {'PASS' if r <= 1.5 else 'MISS'}")
    finally:
        for d in drops: d()
        shutil.rmtree(work, ignore_errors=True)

if __name__ == "__main__": main()
