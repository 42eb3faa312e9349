"""""Several instances on one Redis, or on Postgres alone (issue 12): a change made on one instance reaches a live stream
held by another, and a page reconnecting to an instance started after the change replays it from the shared log (a
Redis Stream, or the Postgres bus's table: positions are the same on every instance)."""""
import json, threading, uuid
from concurrent.futures import ThreadPoolExecutor
import httpx, pytest
from starmodel_nb import create_app
from support import NO_PG, NO_REDIS, PG, REDIS, arun, fresh_pg_database, uvicorns, wait_until

needs_redis = pytest.mark.skipif(not REDIS, reason=NO_REDIS)
DS = {"Datastar-Request": "true"}
APP = '''
from starmodel_nb import Entity, event, create_app
class Board(Entity):
    model_config = {"scope": "global"}
    n: int = 0
    @event
    def hit(self): self.n += 1
app = create_app([Board], secret_key="multi-instance-secret-key-of-32-bytes")
'''

def instances(n: int, work, ns: str, **env) -> list:
    return uvicorns(n, "multi_app:app", work, {"STARMODEL_REDIS_URL": REDIS, "STARMODEL_APP": ns, "STARMODEL_MEMORY_STORE": "redis", **env}, "/board")

def messages(url: str, want: int, since=None, epoch=None, timeout: float = 20, opened: threading.Event | None = None) -> list[dict]:
    "The first `want` `sm` messages of a live stream on `url` (the hello included); `opened` is set once the hello came."
    q = {} if since is None else {"since": since, "epoch": epoch}
    out = []
    with httpx.stream("GET", url + "/_sm/stream", params=q, headers={"Accept": "text/event-stream", **DS}, timeout=timeout) as r:
        assert r.status_code == 200, r.read()
        for line in r.iter_lines():
            if line.startswith("data: "):
                out.append(json.loads(line[6:]))
                if opened is not None: opened.set()
                if len(out) >= want: return out
    return out

def held(ex: ThreadPoolExecutor, url: str, want: int):
    "`messages(url, want)` read in `ex`, returned (a future) once the server holds the stream (its hello came)."
    opened = threading.Event()
    got = ex.submit(messages, url, want, opened=opened)
    wait_until(lambda: opened.is_set() or got.done(), what=f"a live stream on {url}")
    return got

@pytest.fixture
def ns(tmp_path):
    name = f"m{uuid.uuid4().hex[:8]}"
    (tmp_path / "multi_app.py").write_text(APP)
    yield name, tmp_path
    import redis
    r = redis.Redis.from_url(REDIS)
    for k in r.scan_iter(match=f"sm:{name}:*"): r.delete(k)

@needs_redis
def test_a_change_on_one_instance_reaches_a_stream_on_another_and_replays_anywhere(ns):
    name, work = ns
    a, b = instances(2, work, name)
    try:
        with ThreadPoolExecutor(1) as ex:
            got = held(ex, b.url, 2)                                 # a stream held by B
            assert httpx.get(a.url + "/board/hit", headers=DS).status_code == 200      # the change made on A
            hello, change = got.result(timeout=30)
        assert change["signals"] == {"board": {"n": 1}} and change["epoch"] == hello["epoch"] and change["seq"] > hello["seq"]
        seen = change["seq"]
        for _ in range(3): httpx.get(a.url + "/board/hit", headers=DS)
        (c,) = instances(1, work, name)                              # started after those changes
        try:
            replay = messages(c.url, 4, since=seen, epoch=hello["epoch"])
            assert [m.get("signals", {}).get("board", {}).get("n") for m in replay[1:]] == [2, 3, 4]
            assert replay[0]["epoch"] == hello["epoch"]              # one epoch for every instance of the app
        finally: c.stop()
    finally: a.stop(); b.stop()

@needs_redis
def test_memory_entities_need_redis_with_a_shared_bus():
    from starmodel_nb import Entity
    class Scratch(Entity): n: int = 0
    with pytest.raises(ValueError, match="Scratch would be split between them: set memory_store = redis"):
        create_app([Scratch], redis_url=REDIS, secret_key="multi-instance-secret-key-of-32-bytes")
    create_app([Scratch], redis_url=REDIS, bus="local", secret_key="multi-instance-secret-key-of-32-bytes")   # one process: fine

PG_APP = '''
from starmodel_nb import Entity, Field, event, create_app
class Ledger(Entity, table=True):
    id: int | None = Field(default=None, primary_key=True)
    n: int = 0
    @event(method="post")
    def add(self, k: int = 1): self.n += k
app = create_app([Ledger], bus="postgres", secret_key="multi-instance-secret-key-of-32-bytes")
'''

@pytest.mark.skipif(not PG, reason=NO_PG)
def test_the_postgres_bus_alone_carries_a_change_across_instances_and_replays_it(tmp_path):
    (tmp_path / "pg_app.py").write_text(PG_APP)
    with fresh_pg_database("sm_multi") as db:
        env = {"STARMODEL_DATABASE_URL": db, "STARMODEL_REDIS_URL": "", "STARMODEL_APP": "pgonly"}
        a, b = uvicorns(2, "pg_app:app", tmp_path, env, "/ledgers")
        try:
            lid = httpx.post(a.url + "/ledgers", json={"n": 0}, headers={"Accept": "application/json"}).json()["id"]
            with ThreadPoolExecutor(1) as ex:
                got = held(ex, b.url, 2)                             # a stream held by B
                assert httpx.post(f"{a.url}/ledgers/{lid}/add", headers=DS).status_code == 200   # the change made on A
                hello, change = got.result(timeout=30)
            assert change["signals"] == {"ledger": {"n": 1}} and change["epoch"] == hello["epoch"] == "postgres:sm_pgonly_bus"
            for _ in range(3): httpx.post(f"{a.url}/ledgers/{lid}/add", headers=DS)
            (c,) = uvicorns(1, "pg_app:app", tmp_path, env, "/ledgers")   # started after those changes
            try: replay = messages(c.url, 4, since=change["seq"], epoch=hello["epoch"])
            finally: c.stop()
            assert [m["signals"]["ledger"]["n"] for m in replay[1:]] == [2, 3, 4]
        finally: a.stop(); b.stop()

@pytest.mark.skipif(not PG, reason=NO_PG)
def test_a_change_heard_on_the_shared_bus_drops_the_row_another_instance_kept():
    "Each instance keeps the row its last save returned; another instance's change, heard on the bus, drops that copy."
    from starmodel_nb import Entity, Field, event
    from support import LiveServer
    class Till(Entity, table=True):
        id: int | None = Field(default=None, primary_key=True)
        n: int = 0
        @event(method="post")
        def add(self): self.n += 1
    with fresh_pg_database("sm_heard") as db:
        apps = [create_app([Till], database_url=db, redis_url="", bus="postgres", app="heard", secret_key="multi-instance-secret-key-of-32-bytes")
                for _ in range(2)]
        with LiveServer(apps[0]) as a, LiveServer(apps[1]) as b:
            tid = httpx.post(a.url + "/tills", json={"n": 0}, headers={"Accept": "application/json"}).json()["id"]
            assert httpx.post(f"{b.url}/tills/{tid}/add", headers=DS).status_code == 200
            kept = apps[1].sm.repo_for(Till).cache
            assert kept.get(("till", str(tid))).version == 2                  # B keeps the row it wrote
            assert httpx.post(f"{a.url}/tills/{tid}/add", headers=DS).status_code == 200   # A changes it
            wait_until(lambda: kept.get(("till", str(tid))) is None, what="B to drop the row it kept")   # heard: dropped
            assert httpx.post(f"{b.url}/tills/{tid}/add", headers=DS).status_code == 200
            assert httpx.get(f"{a.url}/tills/{tid}", headers={"Accept": "application/json"}).json()["n"] == 3

WORKERS_APP = '''
import os
from starmodel_nb import Entity, event
class Board(Entity):
    model_config = {"scope": "global"}
    n: int = 0
    pids: list[int] = []
    @event
    def hit(self):
        self.n += 1
        self.pids = sorted({*self.pids, os.getpid()})   # which worker ran it
'''

@needs_redis
def test_run_with_workers_serves_one_app_whose_changes_reach_every_workers_pages(tmp_path):
    import asyncio, os, subprocess, sys
    from pathlib import Path
    from support import free_port
    mod, port = f"w{uuid.uuid4().hex[:8]}", free_port()
    (tmp_path / f"{mod}.py").write_text(WORKERS_APP)
    env = {**os.environ, "STARMODEL_APP": mod, "STARMODEL_REDIS_URL": REDIS, "STARMODEL_MEMORY_STORE": "redis",
           "STARMODEL_SECRET_KEY": "multi-instance-secret-key-of-32-bytes"}
    p = subprocess.Popen([str(Path(sys.executable).parent / "starmodel"), "run", "--port", str(port), "--workers", "2"], cwd=tmp_path, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        said = []   # uvicorn's lines: each worker says when it has started
        threading.Thread(target=lambda: said.extend(p.stderr), daemon=True).start()
        def answers():
            assert p.poll() is None, "".join(said)
            return sum("Application startup complete" in l for l in said) == 2 and httpx.get(url + "/board", timeout=5)
        wait_until(answers, timeout=60, ignore=httpx.HTTPError, what="both workers of starmodel run to answer")
        async def fire():
            async with httpx.AsyncClient(headers=DS, timeout=30, limits=httpx.Limits(max_keepalive_connections=0)) as c:
                return await asyncio.gather(*[c.get(url + "/board/hit") for _ in range(60)])   # a new connection each: any worker
        with ThreadPoolExecutor(1) as ex:
            got = held(ex, url, 61)                                   # one stream, held by one worker
            assert {r.status_code for r in arun(fire())} == {200}
            seen = got.result(timeout=30)
        last = max(seen[1:], key=lambda m: m["seq"])["signals"]["board"]
        assert sorted(m["signals"]["board"]["n"] for m in seen[1:]) == list(range(1, 61))   # every change, whichever worker made it
        assert last["n"] == 60 and len(last["pids"]) == 2                                   # and both workers made some
    finally:
        p.terminate(); p.wait(10)
        import redis
        r = redis.Redis.from_url(REDIS)
        for k in r.scan_iter(match=f"sm:{mod}:*"): r.delete(k)
