"""SERVER_REDIS on a real Redis (STARMODEL_TEST_REDIS_URL; db 15): two processes with no lost update, garbage reset,
the idle TTL, a Redis that stops (its own redis-server on its own port) answering 503 with Retry-After while memory
entities keep working, and the admin listing Redis instances."""
import asyncio, time, uuid
import httpx, pytest
from starlette.testclient import TestClient
from starmodel_nb import Entity, Field, event, create_app
from support import NO_REDIS, REDIS, LiveServer, TcpRelay, arun, stays, uvicorns

needs_redis = pytest.mark.skipif(not REDIS, reason=NO_REDIS)
SECRET = "redis-tests-secret-key-of-at-least-32-bytes"
DS, JSON = {"Datastar-Request": "true"}, {"Accept": "application/json"}
WAIT = 30_000   # ms: only a hang guard

class Hitcount(Entity):
    model_config = {"store": "server_redis", "scope": "global"}
    n: int = 0
    @event
    def hit(self): self.n += 1

class Brief(Entity):
    model_config = {"store": "server_redis", "ttl": 1}
    seen: int = 0
    @event
    def see(self): self.seen += 1

class Local(Entity):
    model_config = {"scope": "global"}
    n: int = 0
    @event
    def hit(self): self.n += 1

def app_for(url: str, ns: str, *classes, **kw):
    return create_app(list(classes), redis_url=url, app=ns, secret_key=SECRET, **{"bus": "local", **kw})   # the store, not the bus

def clear(ns: str):
    import redis
    r = redis.Redis.from_url(REDIS)
    for k in r.scan_iter(match=f"sm:{ns}:*"): r.delete(k)

APP = '''
import os
from starmodel_nb import Entity, event, create_app
class Hitcount(Entity):
    model_config = {"store": "server_redis", "scope": "global"}
    n: int = 0
    @event
    def hit(self): self.n += 1
app = create_app([Hitcount], secret_key="redis-tests-secret-key-of-at-least-32-bytes")
'''

@needs_redis
def test_1000_concurrent_events_from_three_processes_lose_nothing(tmp_path):
    ns = f"t{uuid.uuid4().hex[:8]}"
    (tmp_path / "redis_app.py").write_text(APP)
    procs = uvicorns(3, "redis_app:app", tmp_path, {"STARMODEL_REDIS_URL": REDIS, "STARMODEL_APP": ns}, "/hitcount")
    try:
        urls = [p.url for p in procs]
        async def fire():
            sem = asyncio.Semaphore(100)
            async with httpx.AsyncClient(headers=DS, timeout=60) as c:
                async def one(i):
                    async with sem: return await c.get(f"{urls[i % 3]}/hitcount/hit")   # one hot key: the shared lock takes over
                return await asyncio.gather(*[one(i) for i in range(1000)])
        rs = arun(fire())
        assert [r.status_code for r in rs].count(200) == 1000, {r.status_code for r in rs}
        assert not [r for r in rs if "uk-alert" in r.text]
        app = app_for(REDIS, ns, Hitcount)
        assert app.instance(Hitcount).n == 1000                        # read by a third process-like app: exactly 1000
    finally:
        for p in procs: p.stop()
        clear(ns)

@needs_redis
def test_garbage_is_reset_the_ttl_refreshes_and_expires_and_the_admin_lists():
    ns = f"t{uuid.uuid4().hex[:8]}"
    import redis
    r = redis.Redis.from_url(REDIS)
    try:
        app = app_for(REDIS, ns, Hitcount, Brief, admin=True)
        c = TestClient(app, headers=DS)
        r.set(f"sm:{ns}:hitcount:global", b"\x80\x04\x95\x10\x00\x00\x00posix system")          # a pickle: never loaded
        assert c.get("/hitcount/hit").status_code == 200 and app.instance(Hitcount).n == 1      # reported, reset, used
        c.get("/brief/see")
        ((key, obj, v),) = app.instances(Brief)
        assert 0 < r.ttl(f"sm:{ns}:brief:{key}") <= 1
        time.sleep(0.6); c.get("/brief/see"); time.sleep(0.6)                                   # an access restarts the idle TTL
        assert app.instance(Brief, key).seen == 2
        time.sleep(1.3)
        assert app.instances(Brief) == []                                                       # idle past its TTL: gone
        admin = TestClient(app, base_url="http://127.0.0.1:5001", client=("127.0.0.1", 1))
        assert "1 live instance" in admin.get("/admin/hitcount").text and "<td>1</td>" in admin.get("/admin").text
    finally: clear(ns)

def test_redis_down_is_a_quick_503_and_memory_entities_keep_working(own_redis):
    "The app reaches Redis through a relay that counts its connections: with Redis stopped, the relay hangs up on each at once."
    relay = TcpRelay(("127.0.0.1", own_redis.port))
    try:
        app = app_for(f"redis://127.0.0.1:{relay.port}/0", "down", Hitcount, Local)
        c = TestClient(app, headers=DS)
        assert c.get("/hitcount/hit").status_code == 200
        own_redis.stop()
        r = c.get("/hitcount/hit")
        assert (r.status_code, r.headers["retry-after"]) == (503, "2") and "Redis is unavailable" in r.text, r.text
        tries = relay.accepted                                 # (the first may have found its pooled connection dead: counted from here)
        assert c.get("/hitcount").status_code == 503
        assert relay.accepted - tries == 1                                                      # quick: one try, no retries waited out
        assert c.get("/local/hit").status_code == 200                                           # memory entities are not held up
        own_redis.start()                                                                        # back (empty: no persistence)
        assert c.get("/hitcount/hit").status_code == 200 and app.instance(Hitcount).n == 1
    finally: relay.down()

class Pallet(Entity, table=True):
    id: int | None = Field(default=None, primary_key=True)
    n: int = 0
    @event(method="post")
    def adjust(self, delta: int): self.n += delta

def test_pages_are_told_they_are_behind_while_redis_is_away_and_catch_up_when_it_is_back(own_redis, browser, assets, tmp_path):
    "Redis (store and bus) stops under open pages: Redis events are refused, SQL events commit and wait to be sent."
    app = create_app([Hitcount, Pallet], redis_url=own_redis.url, app="behind", database_url=f"sqlite:///{tmp_path}/pallets.db",
                     secret_key=SECRET, assets=assets)
    with LiveServer(app) as srv:
        cid = httpx.post(srv.url + "/pallets", json={"n": 0}, headers=JSON).json()["id"]
        pallet, counter = browser.new_context().new_page(), browser.new_context().new_page()
        pallet.goto(f"{srv.url}/pallets/{cid}"); counter.goto(srv.url + "/hitcount")
        pallet.evaluate("window.smKept = 1")
        own_redis.stop()
        for p in (pallet, counter): p.locator("#sm-behind").wait_for(timeout=WAIT)     # told, without a request of theirs
        assert "catches up by itself" in pallet.locator("#sm-behind").inner_text()
        counter.get_by_role("button", name="Hit").click()
        counter.locator(".uk-alert-destructive").filter(has_text="Redis is unavailable").wait_for(timeout=WAIT)
        r = httpx.post(f"{srv.url}/pallets/{cid}/adjust?delta=5", headers=DS)
        assert r.status_code == 200 and "uk-alert" not in r.text                      # committed; its publishing waits
        shown = lambda: pallet.locator(f"#sm-pallet-{cid}-n").inner_text().strip()
        assert stays(shown, page=pallet, what="the pallet's count while Redis is away") == "0"   # not heard yet: the bus is away
        own_redis.start()                                                             # back, empty
        pallet.wait_for_function(f"document.getElementById('sm-pallet-{cid}-n').textContent.trim() === '5'", polling=50, timeout=WAIT)
        for p in (pallet, counter): p.locator("#sm-behind").wait_for(state="detached", timeout=WAIT)
        assert pallet.evaluate("window.smKept") == 1                                   # caught up in place, no reload
        counter.get_by_role("button", name="Hit").click()
        counter.wait_for_function("document.getElementById('sm-hitcount-n').textContent.trim() === '1'", polling=50, timeout=WAIT)

class PlayerScore(Entity):
    model_config = {"store": "server_redis", "key": "player"}
    player: str
    points: int = 0
    @event(method="post")
    def score(self, n: int = 1): self.points += n

def test_a_keyed_redis_entity_is_served_like_records():
    "No redis_url: the embedded fakeredis; the same record routes as a SQL table, keyed by the declared field."
    app = create_app([PlayerScore], secret_key=SECRET, admin=True)
    api, ds = TestClient(app, headers=JSON), TestClient(app, headers=DS)
    assert api.post("/playerscores", json={"player": "ann", "points": 2}).status_code == 201
    assert api.post("/playerscores", json={"player": "ann"}).status_code == 409                 # taken
    assert api.post("/playerscores", json={"player": "x y"}).status_code == 201
    assert 'signals {"playerscore":{"points":5}}' in ds.post("/playerscores/ann/score?n=3").text
    assert api.get("/playerscores/ann").json() == {"player": "ann", "points": 5}
    assert api.get("/playerscores/x%20y").json()["player"] == "x y"
    assert [i["player"] for i in api.get("/playerscores", params={"sort": "points", "desc": 1}).json()["items"]] == ["ann", "x y"]
    assert api.patch("/playerscores/ann", json={"player": "bo"}).status_code == 422               # the key is read-only
    assert api.get("/playerscores/nobody").status_code == 404
    assert api.delete("/playerscores/ann").status_code == 204 and api.get("/playerscores/ann").status_code == 404
    assert [c.event for c in app.history(PlayerScore)] == ["create", "create", "score", "delete"]
    admin = TestClient(app, base_url="http://127.0.0.1:5001", client=("127.0.0.1", 1))
    assert "x y" in admin.get("/admin/playerscore").text
