"""The SQL store's event statements on the driver (`persistence.sql_fast`) against plain SQLAlchemy Core, in one run.

- Reads and saves of one hot row per path, at the repository (`get_blocking`, `save_blocking`), in process, through
  - `driver`: the store as it is: the read and the save compiled once and run on a DBAPI cursor (`sql_fast.run`);
  - `core`: the same store with that path off: `connection.execute(stmt, params)` on the same statements, whose
    compiled form SQLAlchemy 2 caches (the baseline);
  - `exec_driver_sql`: the driver path's SQL and values through `Connection.exec_driver_sql` instead of a DBAPI
    cursor (SQLAlchemy's execution context and result, no compilation).
  Two cases: `get+save` (both statements reach the database) and `event` (a cached read, as a unit of work asks, and
  the save: what an event on a hot row costs).
- On a SQLite file (WAL, as `make_engine` sets it up), and on Postgres when STARMODEL_TEST_DATABASE_URL is set (a fresh
  database, dropped afterwards).
The driver path keeps its module while driver / core >= 1.15 on `get+save` on a database; below that, plain Core is
simpler and wins. Figures only, no asserts.
Run: `python bench/sql_path.py [--seconds 1] [--rounds 5]`.
"""
import argparse, asyncio, os, shutil, statistics, tempfile, time
from pathlib import Path
from sqlmodel import Field
from support import pg_database
from starmodel_nb import Entity
from starmodel_nb.adapters.persistence.sql import SQLRepository, make_engine
from starmodel_nb.adapters.persistence.sql_fast import converted

CASES = ("get+save", "event")

class Tally(Entity, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = "hot"
    n: int = 0
    price: float = 0.0

class Core(SQLRepository):
    "The store with its driver path off: every statement through `connection.execute`."
    def prepared(self, stmt, params, columns=()): return None

class DriverSQL(SQLRepository):
    "The driver path's SQL and values through `Connection.exec_driver_sql` instead of a DBAPI cursor."
    def execute(self, p, params):
        args = {k: f(v) if (f := p.binds.get(k)) else v for k, v in params.items()}
        if p.names is not None: args = tuple(args[n] for n in p.names)
        with self.auto.connect() as c:
            res = c.exec_driver_sql(p.sql, args)
            desc = res.cursor.description
            row = res.fetchone() if p.columns else None
            return (None if row is None else converted(p, row, desc, self.auto.dialect)), res.rowcount

def repositories(engine) -> dict:
    "A repository per path on `engine`, each with a row of its own (its cache is its own): `{name: (repo, key)}`."
    repos = {"core": Core(engine, [Tally]), "driver": SQLRepository(engine, [Tally]),
             "exec_driver_sql": DriverSQL(engine, [Tally])}
    repos["core"].prepare()
    return {name: (repo, asyncio.run(repo.insert(Tally, Tally()))[0]) for name, repo in repos.items()}

def rate(repo, key, seconds: float, case: str) -> float:
    "Rounds per second of a read of row `key` then its save, through `repo`, for `seconds`."
    cached, n, t0 = case == "event", 0, time.perf_counter()
    while (t := time.perf_counter()) - t0 < seconds:
        for _ in range(50):
            obj, v = repo.get_blocking(Tally, key, cached=cached)
            obj.n += 1
            repo.save_blocking(Tally, key, obj, v)
        n += 50
    return n / (t - t0)

def measure(url: str, seconds: float, rounds: int) -> dict:
    "Median rounds per second by (path, case) on the database at `url`."
    engine = make_engine(url)
    try:
        repos = repositories(engine)
        for repo, key in repos.values(): rate(repo, key, seconds / 4, "get+save")   # warm: compiled, pooled
        got, names = {(k, c): [] for k in repos for c in CASES}, list(repos)
        for r in range(rounds):
            for case in CASES:
                for k in names[r % len(names):] + names[:r % len(names)]:
                    got[k, case].append(rate(*repos[k], seconds, case))
        return {k: statistics.median(v) for k, v in got.items()}
    finally: engine.dispose()

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=1.0, help="seconds per measurement")
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sm-bench-sql-path-"))
    dbs, drops = {"sqlite": f"sqlite:///{work}/path.db"}, []
    if pg := os.environ.get("STARMODEL_TEST_DATABASE_URL"):
        url, drop = pg_database(pg)
        dbs["postgres"] = url
        drops.append(drop)
    else: print("(STARMODEL_TEST_DATABASE_URL not set: Postgres skipped)")
    try:
        print(f"cores: {os.cpu_count()}; {a.rounds} rounds of {a.seconds:g} s per path and case, rotating, medians; "
              "read + save rounds per second of one hot row; ratios against core\n")
        print(f"{'':<10}{'path':<17}" + "".join(f"{c + '/s':>12}{'/core':>7}" for c in CASES))
        verdicts = []
        for db, url in dbs.items():
            got = measure(url, a.seconds, a.rounds)
            for k in ("core", "driver", "exec_driver_sql"):
                cols = [f"{got[k, c]:>12,.0f}{got[k, c] / got['core', c]:>7.2f}" for c in CASES]
                print(f"{db:<10}{k:<17}" + "".join(cols))
            r = got["driver", "get+save"] / got["core", "get+save"]
            verdicts.append(f"{db} {r:.2f}")
        print(f"\ndriver / core on get+save: {', '.join(verdicts)} "
              "(the driver path keeps its module while one is >= 1.15)")
    finally:
        for d in drops: d()
        shutil.rmtree(work, ignore_errors=True)

if __name__ == "__main__": main()
