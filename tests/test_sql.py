"SQL entities on SQLite and on the real Postgres: CRUD over JSON and HTML, rollback, conflicts, outages, two processes."
import asyncio, time
from urllib.parse import urlsplit
import httpx, pytest
from sqlalchemy import text, update
from starmodel_nb import Entity, Field, event, create_app
from starmodel_nb.adapters.persistence.sql import VERSION
from support import NO_PG, PG, LiveServer, TcpRelay, arun, fresh_pg_database, uvicorns, wait_until

needs_pg = pytest.mark.skipif(not PG, reason=NO_PG)

class Gadget(Entity, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str
    stock: int = Field(default=0, ge=0)
    on_sale: bool = False
    @event(method="post")
    def adjust_stock(self, delta: int):
        if self.stock + delta < 0: raise ValueError("Insufficient stock")
        self.stock += delta

class Note(Entity):
    text: str = ""
    @event
    def write(self, text: str): self.text = text

JSON = {"Accept": "application/json"}
DS = {"Datastar-Request": "true"}

@pytest.fixture
def app(db_url):
    a = create_app([Gadget, Note], database_url=db_url, secret_key="sql-tests-secret-key-of-at-least-32-bytes")
    yield a
    with a.sm.repo_for(Gadget).engine.begin() as c: c.execute(text("DROP TABLE IF EXISTS gadget"))

def test_crud_over_json(app):
    from starlette.testclient import TestClient
    c = TestClient(app, headers=JSON)
    ids = [c.post("/gadgets", json={"name": n, "stock": i}).json()["id"] for i, n in enumerate(["hook", "lamp", "wire", "lamp shade"])]
    assert c.get(f"/gadgets/{ids[1]}").json() == {"id": ids[1], "name": "lamp", "stock": 1, "on_sale": False}
    assert [g["name"] for g in c.get("/gadgets", params={"q": "lamp", "sort": "name", "desc": 1}).json()["items"]] == ["lamp shade", "lamp"]
    page = c.get("/gadgets", params={"per_page": 3}).json()
    assert (len(page["items"]), page["has_next"]) == (3, True)
    assert c.patch(f"/gadgets/{ids[0]}", json={"on_sale": True}).json()["on_sale"] is True
    assert c.put(f"/gadgets/{ids[0]}", json={"name": "hook 2", "stock": 9}).json()["stock"] == 9
    r = c.post("/gadgets", json={"name": "x", "stock": -1})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == "stock"
    assert c.delete(f"/gadgets/{ids[2]}").status_code == 204 and c.get(f"/gadgets/{ids[2]}").status_code == 404
    assert c.patch(f"/gadgets/{ids[2]}", json={"stock": 1}).status_code == 404

def test_html_forms_and_rollback(app):
    from starlette.testclient import TestClient
    b = TestClient(app, headers=DS)
    r = b.post("/gadgets", data={"name": "kettle", "stock": "2", "on_sale": "false"})
    assert r.status_code == 200 and "window.location" in r.text and "/gadgets/" in r.text
    gid = TestClient(app, headers=JSON).get("/gadgets").json()["items"][0]["id"]
    r = b.post("/gadgets", data={"name": "bad", "stock": "two"})      # the form comes back with the error beside the field
    assert r.status_code == 200 and "valid integer" in r.text and "value=\"two\"" in r.text
    r = b.post(f"/gadgets/{gid}/adjust_stock?delta=-5")
    assert "Insufficient stock" in r.text
    assert TestClient(app, headers=JSON).get(f"/gadgets/{gid}").json()["stock"] == 2
    assert b.patch(f"/gadgets/{gid}", data={"name": "kettle", "stock": "4", "on_sale": "true"}).status_code == 200
    assert TestClient(app, headers=JSON).get(f"/gadgets/{gid}").json() == {"id": gid, "name": "kettle", "stock": 4, "on_sale": True}
    page = TestClient(app).get(f"/gadgets/{gid}").text
    assert f'id="sm-gadget-{gid}"' in page and "&quot;stock&quot;: 4" in page and "&quot;id&quot;" not in page

def test_conflict_that_cannot_be_resolved_is_409(app):
    "Another writer changes the row during every attempt: the retries give up with 409 and nothing is half-applied."
    from starlette.testclient import TestClient
    gid = TestClient(app, headers=JSON).post("/gadgets", json={"name": "contested", "stock": 10}).json()["id"]
    engine, orig = app.sm.repo_for(Gadget).engine, Gadget.adjust_stock.spec.fn
    def meddling(self, delta: int):
        with engine.begin() as c: c.execute(update(Gadget.__table__).where(Gadget.__table__.c.id == gid).values({VERSION: Gadget.__table__.c[VERSION] + 1}))
        orig(self, delta)
    object.__setattr__(Gadget.__sm_events__["adjust_stock"], "fn", meddling)
    try:
        r = TestClient(app, headers=DS).post(f"/gadgets/{gid}/adjust_stock?delta=1")
        assert r.status_code == 409 and "changed by someone else" in r.text
    finally: object.__setattr__(Gadget.__sm_events__["adjust_stock"], "fn", orig)
    assert TestClient(app, headers=JSON).get(f"/gadgets/{gid}").json()["stock"] == 10

@needs_pg
def test_database_outage_is_503_and_recovers(pg_db):
    u = urlsplit(pg_db)
    relay = TcpRelay((u.hostname, u.port or 5432))
    url = f"{u.scheme}://{u.username}@127.0.0.1:{relay.port}{u.path}"
    app = create_app([Gadget, Note], database_url=url, secret_key="outage-secret-key-of-at-least-32-bytes")
    with LiveServer(app) as srv:
        c = httpx.Client(base_url=srv.url, headers=JSON, timeout=30)   # only a hang guard: the outage must be answered, not waited out
        gid = c.post("/gadgets", json={"name": "fragile", "stock": 1}).json()["id"]
        relay.down()
        r = c.get(f"/gadgets/{gid}")
        assert r.status_code == 503 and "database is unavailable" in r.text.lower()
        r = c.post(f"/gadgets/{gid}/adjust_stock?delta=1", headers=DS)
        assert r.status_code == 503
        assert httpx.get(srv.url + "/note/write?text=hi", headers=DS, timeout=30).status_code == 200   # other entities still served
        relay.up()
        wait_until(lambda: c.get(f"/gadgets/{gid}").status_code == 200, timeout=30, what="the database to be back")
        assert c.get(f"/gadgets/{gid}").json()["stock"] == 1
        assert c.post(f"/gadgets/{gid}/adjust_stock?delta=1", headers=DS).status_code == 200
        assert c.get(f"/gadgets/{gid}").json()["stock"] == 2
    with app.sm.repo_for(Gadget).engine.begin() as conn: conn.execute(text("DROP TABLE IF EXISTS gadget"))

def test_a_change_made_behind_the_apps_back_is_not_overwritten(app):
    "An event starts from the row its last save returned (kept in the process); a row changed by another program without touching sm_version is read again, not overwritten."
    from starlette.testclient import TestClient
    c = TestClient(app, headers=JSON)
    gid = c.post("/gadgets", json={"name": "crate", "stock": 5}).json()["id"]
    assert c.post(f"/gadgets/{gid}/adjust_stock?delta=1", headers=DS).status_code == 200
    repo = app.sm.repo_for(Gadget)
    assert repo.cache.get(("gadget", str(gid))).row["stock"] == 6                  # kept for the next event
    with repo.engine.begin() as conn: conn.execute(update(Gadget.__table__).where(Gadget.__table__.c.id == gid).values(stock=50))
    assert c.post(f"/gadgets/{gid}/adjust_stock?delta=1", headers=DS).status_code == 200
    assert c.get(f"/gadgets/{gid}").json()["stock"] == 51
    with repo.engine.connect() as conn: assert conn.execute(text(f"SELECT {VERSION} FROM gadget WHERE id = {gid}")).scalar() == 3

def test_concurrent_events_on_one_row_are_saved_together_each_with_its_answer(db_url):
    "300 events at once on one row: queued events run in turn and are written together; each gets its own answer and history row."
    app = create_app([Gadget], database_url=db_url, secret_key="batch-tests-secret-key-of-at-least-32-bytes")
    repo = app.sm.repo_for(Gadget)
    writes, execute = [], repo.execute
    repo.execute = lambda p, params: (writes.append(p.sql) if p.sql.startswith("UPDATE") else None, execute(p, params))[1]   # a spy
    try:
        with LiveServer(app) as srv:
            gid = httpx.post(srv.url + "/gadgets", json={"name": "bin", "stock": 0}, headers=JSON).json()["id"]
            t0 = time.time()   # the history table outlives the gadget table: earlier tests' rows have these ids too
            async def fire():
                async with httpx.AsyncClient(base_url=srv.url, headers=DS, timeout=60) as c:
                    return await asyncio.gather(*[c.post(f"/gadgets/{gid}/adjust_stock?delta={1 if i % 3 else -3}") for i in range(300)])
            rs = arun(fire())
            assert {r.status_code for r in rs} == {200}
            refused = sum("Insufficient stock" in r.text for r in rs)
            stock = httpx.get(f"{srv.url}/gadgets/{gid}", headers=JSON).json()["stock"]
            assert stock == 200 - 3 * (100 - refused) >= 0                           # every event applied or refused, none lost
        assert 0 < len(writes) < 300 - refused                                       # fewer writes than changes: saved together
        got = arun(app.sm.history.rows(entity="gadget", key=str(gid), last=1000))
        rows = [r for r in got if r.event == "adjust_stock" and r.at >= t0]
        assert [(r.before, r.after) for r in rows] == [(v, v + 1) for v in range(1, 301 - refused)]   # a version and a row each
    finally:
        with repo.engine.begin() as c: c.execute(text("DROP TABLE IF EXISTS gadget"))

APP = '''
from starmodel_nb import Entity, Field, event, create_app
class Counterweight(Entity, table=True):
    id: int | None = Field(default=None, primary_key=True)
    stock: int = 0
    @event(method="post")
    def adjust_stock(self, delta: int): self.stock += delta
app = create_app([Counterweight], secret_key="two-processes-secret-key-of-at-least-32-bytes")
'''

@needs_pg
def test_1000_concurrent_events_from_two_processes(pg_db, tmp_path):
    (tmp_path / "conc_app.py").write_text(APP)
    procs = uvicorns(2, "conc_app:app", tmp_path, {"STARMODEL_DATABASE_URL": pg_db}, "/counterweights")
    try:
        urls = [p.url for p in procs]
        cid = httpx.post(urls[0] + "/counterweights", json={"stock": 0}, headers=JSON).json()["id"]
        async def fire():
            sem = asyncio.Semaphore(100)
            async with httpx.AsyncClient(headers=DS, timeout=60) as c:
                async def one(i):
                    async with sem: return await c.post(f"{urls[i % 2]}/counterweights/{cid}/adjust_stock?delta=1")
                return await asyncio.gather(*[one(i) for i in range(1000)])
        rs = arun(fire())
        assert [r.status_code for r in rs].count(200) == 1000, {r.status_code for r in rs}
        assert not [r for r in rs if "uk-alert" in r.text]
        assert httpx.get(f"{urls[1]}/counterweights/{cid}", headers=JSON).json()["stock"] == 1000
    finally:
        for p in procs: p.stop()

class Racer(Entity, table=True):
    id: int | None = Field(default=None, primary_key=True)
    n: int = 0

@needs_pg
def test_instances_starting_together_on_a_fresh_database_all_start():
    "Workers of one deployment start at once: each finds the table missing, one creates it, none may fail."
    import threading
    from starmodel_nb.adapters.persistence.sql import make_engine, prepare_schema
    for _ in range(5):
        with fresh_pg_database("sm_race") as url:
            engines, errors, gate = [make_engine(url) for _ in range(3)], [], threading.Barrier(3)
            def start(e):
                gate.wait()
                try: prepare_schema(e, [Racer])
                except Exception as x: errors.append(repr(x))
            ts = [threading.Thread(target=start, args=(e,)) for e in engines]
            for t in ts: t.start()
            for t in ts: t.join(60)
            for e in engines: e.dispose()
            assert errors == []
