"""What other clients write under our Redis keys (STARMODEL_TEST_REDIS_URL; db 15): our format in any JSON spelling is
used, anything else is reported and reset; never a 500, never a 409 for ever, never the Redis client's own words on a
page. And the index of live instances: counting and paging them without SCAN."""
import asyncio, json, logging, uuid
import pytest, redis
from redis.asyncio import Redis
from starlette.testclient import TestClient
from starmodel_nb import Entity, event, create_app
from starmodel_nb.app.uow import Unavailable
from starmodel_nb.core import entity_plural
from starmodel_nb.adapters.persistence.redis import RedisRepository
from support import NO_REDIS, REDIS, arun

needs_redis = pytest.mark.skipif(not REDIS, reason=NO_REDIS)
SECRET = "redis-tests-secret-key-of-at-least-32-bytes"
DS, JSON = {"Datastar-Request": "true"}, {"Accept": "application/json"}
THEIRS = ("WRONGTYPE", "wrong kind of value", "Invalid input of type", "READONLY", "read only replica", "OOM",
          "maxmemory", "ResponseError", "Error running script")   # what the Redis client or server would say
PLANT: list = []   # (key, how): what `Meddled.hit` writes between the read and the save

# Named apart from the other test files' entities: one pytest run registers them all, and a slug is taken once.
class RedisHits(Entity):
    model_config = {"store": "server_redis", "scope": "global"}
    n: int = 0
    @event
    def hit(self): self.n += 1

class RedisTally(Entity):
    model_config = {"store": "server_redis", "key": "name"}
    name: str
    n: int = 0
    @event(method="post")
    def add(self, by: int = 1): self.n += by

class Meddled(Entity):
    model_config = {"store": "server_redis", "scope": "global"}
    n: int = 0
    @event
    def hit(self):
        while PLANT: plant(redis.Redis.from_url(REDIS), *PLANT.pop())   # another client writes while the event runs
        self.n += 1

def plant(r, k: str, how):
    "Write `how` at `k` as another client would: a text value, or another Redis type by name."
    r.delete(k)
    kinds = {"hash": lambda: r.hset(k, "v", 1), "list": lambda: r.rpush(k, "x"), "set": lambda: r.sadd(k, "x"),
             "zset": lambda: r.zadd(k, {"x": 1}), "stream": lambda: r.xadd(k, {"v": "1"})}
    kinds[how]() if how in kinds else r.set(k, how)

KINDS = ["hash", "list", "set", "zset", "stream"]

@pytest.fixture
def ns():
    "A namespace of this test's own on db 15; its keys deleted afterwards (never a flush)."
    ns = f"t{uuid.uuid4().hex[:8]}"
    yield ns
    r = redis.Redis.from_url(REDIS)
    for k in r.scan_iter(match=f"sm:{ns}:*"): r.delete(k)

def served(url: str, ns: str):
    app = create_app([RedisHits, RedisTally, Meddled], redis_url=url, app=ns, secret_key=SECRET, bus="local", admin=True)
    return app, TestClient(app, headers=DS)

def admin(app): return TestClient(app, base_url="http://127.0.0.1:5001", client=("127.0.0.1", 1))

def ours(r) -> str:
    "The page text `r` answered, checked to hold none of the Redis client's words."
    assert not [w for w in THEIRS if w in r.text], r.text
    return r.text

# 1. our format, spelled another way: used, and saved on

SPELLINGS = {"spaced": '{"v": 4, "state": {"n": 41}}', "reordered": '{"state":{"n":41},"v":4}',
             "escaped": '{"\\u0076":4,"\\u0073tate":{"n":41,"\\u0065":"\\u00e9"}}',
             "pretty": '{\n  "v": 4,\n  "state": {\n    "n": 41\n  }\n}\n'}

@needs_redis
@pytest.mark.parametrize("raw", SPELLINGS.values(), ids=list(SPELLINGS))
def test_our_format_spelled_another_way_is_used(ns, raw):
    "A value `get` reads is one the save takes: no 409 for ever because the JSON is spaced or ordered another way."
    app, c = served(REDIS, ns)
    r = redis.Redis.from_url(REDIS)
    r.set(f"sm:{ns}:redishits:global", raw)
    r.set(f"sm:{ns}:redistally:ann", raw.replace("41", '41, "name": "ann"'))
    for n in (42, 43):
        assert c.get("/redishits/hit").status_code == 200 and app.instance(RedisHits).n == n
        assert c.post(f"/{entity_plural(RedisTally)}/ann/add").status_code == 200
        assert app.instance(RedisTally, "ann").n == n
    assert [json.loads(r.get(f"sm:{ns}:{k}"))["v"] for k in ("redishits:global", "redistally:ann")] == [6, 6]

# 2. another Redis type under one of our keys: reported and reset

@needs_redis
@pytest.mark.parametrize("kind", KINDS)
def test_a_key_of_another_redis_type_is_reported_and_reset(ns, kind, caplog):
    app, c = served(REDIS, ns)
    r, api, plural = redis.Redis.from_url(REDIS), TestClient(app, headers=JSON), entity_plural(RedisTally)
    plant(r, f"sm:{ns}:redishits:global", kind)
    with caplog.at_level(logging.ERROR, "starmodel_nb"): assert c.get("/redishits").status_code == 200
    assert f"sm:{ns}:redishits:global" in caplog.text                                   # reported
    assert c.get("/redishits/hit").status_code == 200 and app.instance(RedisHits).n == 1 # reset, then used
    assert c.get("/redishits/hit").status_code == 200 and app.instance(RedisHits).n == 2
    plant(r, f"sm:{ns}:redistally:ann", kind)
    assert api.get(f"/{plural}/ann").status_code == 404                                  # reset: no such record
    plant(r, f"sm:{ns}:redistally:ann", kind)
    assert api.post(f"/{plural}", json={"name": "ann"}).status_code == 201               # not "already exists" for ever
    assert api.post(f"/{plural}", json={"name": "bo", "n": 2}).status_code == 201
    plant(r, f"sm:{ns}:redistally:bo", kind)                                             # indexed, then overwritten
    assert [i["name"] for i in api.get(f"/{plural}").json()["items"]] == ["ann"]
    assert "ann" in ours(admin(app).get("/admin/redistally")) and admin(app).get("/admin").status_code == 200
    repo = app.sm.repo_for(RedisTally)
    assert app.call(repo.count(RedisTally)) in (1, 2) and [k for k, _, _ in app.call(repo.live(RedisTally))] == ["ann"]
    assert [(k, v) for k, v, _, _ in app.call(repo.entries(RedisTally))] == [("ann", 1), ("bo", None)]
    assert kind in app.call(repo.peek(RedisTally, "bo"))[0]
    assert app.call(repo.clear(RedisTally)) == 2 and app.call(repo.count(RedisTally)) == 0
    assert not r.exists(f"sm:{ns}:redistally:bo")

@needs_redis
@pytest.mark.parametrize("kind", [*KINDS, "not json", '{"v": 1, "state": {"n": 7}}'])
def test_a_value_written_between_the_read_and_the_save_does_not_wedge(ns, kind):
    "The save finds what another client just wrote: the event runs again on what is there now (or from scratch), and answers 200."
    app, c = served(REDIS, ns)
    assert c.get("/meddled/hit").status_code == 200
    PLANT.append((f"sm:{ns}:meddled:global", kind))
    r = c.get("/meddled/hit")
    assert r.status_code == 200 and "uk-alert" not in ours(r), r.text
    assert app.instance(Meddled).n == (8 if kind.startswith("{") else 1)
    assert c.get("/meddled/hit").status_code == 200 and app.instance(Meddled).n == (9 if kind.startswith("{") else 2)

# 3. a version that is not a plain integer

VERSIONS = {"true": "true", "float": "1.5", "text": '"3"', "negative": "-1", "huge": str(2**53 + 1), "null": "null",
            "zero": "0"}

@needs_redis
@pytest.mark.parametrize("v", VERSIONS.values(), ids=list(VERSIONS))
def test_a_version_that_is_no_plain_integer_is_reset_or_used_never_an_error(ns, v, caplog):
    app, c = served(REDIS, ns)
    r = redis.Redis.from_url(REDIS)
    r.set(f"sm:{ns}:redishits:global", f'{{"v":{v},"state":{{"n":10}}}}')
    with caplog.at_level(logging.ERROR, "starmodel_nb"):
        got = c.get("/redishits/hit")
    assert got.status_code == 200 and "uk-alert" not in ours(got), got.text
    n = app.instance(RedisHits).n
    assert n == (11 if v == "0" else 1) and (v == "0" or "redishits:global" in caplog.text)   # used as it is, or reset and reported
    assert c.get("/redishits/hit").status_code == 200 and app.instance(RedisHits).n == n + 1

# 4. Redis refusing (READONLY, OOM, a flushed script cache): our 503, in our words

def test_redis_refusing_is_our_503_in_our_words_and_the_next_request_works(own_redis):
    app, c = served(own_redis.url, "refuse")
    r, plural = redis.Redis(port=own_redis.port), entity_plural(RedisTally)
    api = TestClient(app, headers=JSON)
    assert c.get("/redishits/hit").status_code == 200 and api.post(f"/{plural}", json={"name": "ann"}).status_code == 201
    r.config_set("maxmemory-policy", "noeviction"); r.config_set("maxmemory", "1")                # full: writes refused (OOM)
    got = c.get("/redishits/hit")
    assert got.status_code == 503 and "Redis" in ours(got), got.text
    r.config_set("maxmemory", "0")
    assert c.get("/redishits/hit").status_code == 200 and app.instance(RedisHits).n == 2
    r.execute_command("REPLICAOF", "127.0.0.1", "1")                                              # a replica: READONLY
    try:
        for resp in (c.get("/redishits/hit"), c.get("/redishits"), api.get(f"/{plural}/ann"), admin(app).get("/admin/redishits"),
                     api.post(f"/{plural}", json={"name": "bo"}), api.delete(f"/{plural}/ann")):
            assert resp.status_code == 503 and "Redis" in ours(resp), (resp.request.url, resp.status_code, resp.text)
        assert "<td>?</td>" in ours(admin(app).get("/admin"))
        repo = app.sm.repo_for(RedisTally)
        for work in (repo.get(RedisTally, "ann"), repo.save(RedisTally, "ann", RedisTally(name="ann"), 1), repo.delete(RedisTally, "ann"),
                     repo.list(RedisTally), repo.count(RedisTally), repo.live(RedisTally), repo.keys(RedisTally), repo.clear(RedisTally),
                     repo.insert(RedisTally, RedisTally(name="cy")), repo.query(RedisTally)):
            with pytest.raises(Unavailable) as e: app.call(work)
            assert not [w for w in THEIRS if w in str(e.value)], str(e.value)
    finally: r.execute_command("REPLICAOF", "NO", "ONE")
    r.script_flush()                                                                               # NOSCRIPT: loaded again
    assert c.get("/redishits/hit").status_code == 200 and app.instance(RedisHits).n == 3

# 5. the index of live instances: count and pages without SCAN

def no_scan(client):
    "Make `client` refuse SCAN and KEYS, so a call that needs them fails."
    def refused(*a, **kw): raise AssertionError("SCAN or KEYS used")
    for name in ("scan", "scan_iter", "keys"): setattr(client, name, refused)

@needs_redis
def test_count_and_live_page_10000_instances_from_the_index_without_scan(ns):
    repo = RedisRepository(lambda: Redis.from_url(REDIS), namespace=f"sm:{ns}", ttl=600)
    async def go():
        sem = asyncio.Semaphore(32)
        async def one(i):
            async with sem: await repo.save(RedisTally, f"k{i:05}", RedisTally(name=f"k{i:05}", n=i), 0)
        await asyncio.gather(*[one(i) for i in range(10_000)])
        no_scan(repo.client)
        await repo.get(RedisTally, "k00042")                                        # used last: first in the page
        idx = f"sm:{ns}:redistally:_live"
        await repo.client.zadd(idx, {f"sm:{ns}:redistally:gone": 1})                # expired long ago: purged when counting
        await repo.client.zadd(idx, {f"sm:{ns}:redistally:lost": 4e9, "elsewhere": 4e9})   # no value / not ours: left out of pages
        pttl = await repo.client.pttl(f"sm:{ns}:redistally:k00001")
        n, page = await repo.count(RedisTally), await repo.live(RedisTally, 0, 50)
        rest = await repo.live(RedisTally, 9_990, 50)
        after = await repo.client.pttl(f"sm:{ns}:redistally:k00001"), await repo.client.zscore(idx, f"sm:{ns}:redistally:gone")
        ks = await repo.keys(RedisTally)
        await repo.client.aclose()
        return n, page, rest, pttl, after, ks
    n, page, rest, pttl, (after, gone), ks = arun(go())
    assert n == 10_002 and gone is None                                         # the two planted live members are counted
    assert page[0][0] == "k00042" and len(page) == 48 and all(isinstance(o, RedisTally) and v == 1 for _, o, v in page)
    assert len({k for k, _, _ in page + rest}) == len(page) + len(rest) and 0 < len(rest) <= 12
    assert after <= pttl                                                        # reading a page restarts no TTL
    assert sorted(k for k in ks if k.startswith("k")) == [f"k{i:05}" for i in range(10_000)]

@needs_redis
def test_the_index_follows_saves_reads_deletes_and_clears(ns):
    repo = RedisRepository(lambda: Redis.from_url(REDIS), namespace=f"sm:{ns}", ttl=600)
    async def go():
        for k in "abc": await repo.insert(RedisTally, RedisTally(name=k))
        no_scan(repo.client)
        out = [await repo.count(RedisTally), [k for k, _, _ in await repo.live(RedisTally)], sorted(await repo.keys(RedisTally))]
        await repo.get(RedisTally, "a"); await repo.delete(RedisTally, "b")
        out += [[k for k, _, _ in await repo.live(RedisTally)], [k for k, _, _ in await repo.list(RedisTally)]]
        out += [[o.name for o, _ in (await repo.query(RedisTally))[0]], await repo.get(RedisTally, "nobody")]
        out += [await repo.count(RedisTally), await repo.clear(RedisTally, "c"), await repo.count(RedisTally)]
        await repo.client.aclose()
        return out
    got = arun(go())
    assert got == [3, ["c", "b", "a"], ["a", "b", "c"], ["a", "c"], ["a", "c"], ["a", "c"], None, 2, 1, 1]
