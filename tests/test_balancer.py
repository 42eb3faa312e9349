"""Three instances behind a real load balancer (HAProxy: round robin, no affinity) on one Redis and one Postgres (issue 12).

Each request may land on any instance: a Chromium page sees its own session's state and everyone's changes live;
1,000 concurrent events on one Redis entity and 1,000 on one SQL row are exactly 1,000 each; an instance killed
mid-run takes the live streams it held with it, and those pages reconnect through the others and replay what they
missed, without a reload."""
import asyncio, shutil, subprocess, uuid
from collections import Counter
import httpx, pytest
from support import NO_PG, NO_REDIS, PG, REDIS, arun, free_port, fresh_pg_database, uvicorns, wait_until

HAPROXY = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/usr/local/sbin")
pytestmark = [pytest.mark.skipif(not REDIS, reason=NO_REDIS), pytest.mark.skipif(not PG, reason=NO_PG),
              pytest.mark.skipif(not HAPROXY, reason="haproxy is not installed (apt-get install haproxy)")]
DS, JSON = {"Datastar-Request": "true"}, {"Accept": "application/json"}
WAIT = 30_000   # ms: only a hang guard; a passing wait returns as soon as the page shows the value

APP = '''
from starmodel_nb import Entity, Field, event, create_app
class Board(Entity):
    model_config = {"scope": "global"}
    n: int = 0
    @event
    def hit(self): self.n += 1
class Tally(Entity):
    model_config = {"scope": "global"}
    n: int = 0
    @event
    def hit(self): self.n += 1
class Basket(Entity):
    items: int = 0
    @event
    def add(self): self.items += 1
class Stock(Entity, table=True):
    id: int | None = Field(default=None, primary_key=True)
    n: int = 0
    @event(method="post")
    def adjust(self, delta: int): self.n += delta
inner = create_app([Board, Tally, Basket, Stock])

async def app(scope, receive, send):
    "The app, each response naming the instance (its port) that answered; /_test/streams: how many live streams it holds."
    if scope["type"] != "http": return await inner(scope, receive, send)
    here = str(scope["server"][1]).encode()
    if scope["path"] == "/_test/streams":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"x-instance", here)]})
        return await send({"type": "http.response.body", "body": str(inner.state.sm.hub.clients).encode()})
    async def tagged(msg):
        if msg["type"] == "http.response.start": msg = {**msg, "headers": [*msg.get("headers", []), (b"x-instance", here)]}
        await send(msg)
    await inner(scope, receive, tagged)
'''

HAPROXY_CFG = """
global
    maxconn 4096
defaults
    mode http
    timeout connect 1s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h
    retries 3
    option redispatch 1
frontend web
    bind 127.0.0.1:{port}
    default_backend app
backend app
    balance roundrobin
    option httpchk GET /_test/streams
    default-server inter 300ms fall 1 rise 2
{servers}
"""

class Cluster:
    "Three instances of APP and HAProxy in front of them: `url` (the balancer), `instances`."
    def __init__(self, work, ns: str, db: str, assets: str):
        env = {"STARMODEL_REDIS_URL": REDIS, "STARMODEL_DATABASE_URL": db, "STARMODEL_APP": ns, "STARMODEL_MEMORY_STORE": "redis",
               "STARMODEL_SECRET_KEY": "balancer-tests-secret-key-of-at-least-32-bytes", "STARMODEL_ASSETS": assets}
        self.ns = ns
        self.instances = uvicorns(3, "lb_app:app", work, env, "/_test/streams")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        servers = "\n".join(f"    server s{i} 127.0.0.1:{u.port} check" for i, u in enumerate(self.instances))
        (work / "haproxy.cfg").write_text(HAPROXY_CFG.format(port=self.port, servers=servers))
        self.lb = subprocess.Popen([HAPROXY, "-db", "-f", str(work / "haproxy.cfg")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        def answers():
            assert self.lb.poll() is None, "haproxy exited: " + self.lb.stderr.read().decode()[-2000:]
            return httpx.get(self.url + "/_test/streams", timeout=5).status_code == 200
        wait_until(answers, timeout=30, ignore=httpx.HTTPError, what="haproxy to start")
    def state(self, slug: str) -> dict:
        "The state of the global `slug` entity as Redis holds it (`{}` before its first change)."
        import json, redis
        with redis.Redis.from_url(REDIS) as r: raw = r.get(f"sm:{self.ns}:{slug}:global")
        return json.loads(raw)["state"] if raw else {}
    def streams(self) -> list[int]:
        "How many live streams each instance holds (asked of each directly; a stopped one: -1)."
        out = []
        for u in self.instances:
            try: out.append(int(httpx.get(u.url + "/_test/streams", timeout=5).text))
            except httpx.HTTPError: out.append(-1)
        return out
    def stop(self):
        self.lb.terminate(); self.lb.wait(10)
        for u in self.instances: u.stop()

@pytest.fixture(scope="module")
def cluster(tmp_path_factory, assets):
    work, ns = tmp_path_factory.mktemp("lb"), f"lb{uuid.uuid4().hex[:8]}"
    (work / "lb_app.py").write_text(APP)
    with fresh_pg_database("sm_lb") as db:
        c = Cluster(work, ns, db, assets)
        try: yield c
        finally:
            c.stop()
            import redis
            r = redis.Redis.from_url(REDIS)
            for k in r.scan_iter(match=f"sm:{ns}:*"): r.delete(k)

def shows(page, sel: str, value) -> None:
    page.wait_for_function(f"document.querySelector({sel!r})?.textContent.trim() === {str(value)!r}", polling=50, timeout=WAIT)

def test_requests_are_spread_without_affinity(cluster):
    with httpx.Client(base_url=cluster.url) as c:
        who = Counter(c.get("/board").headers["x-instance"] for _ in range(9))   # one connection, one client: round robin all the same
    assert sorted(who.values()) == [3, 3, 3], who

def test_1000_concurrent_events_on_one_redis_entity_and_on_one_sql_row(cluster):
    sid = httpx.post(cluster.url + "/stocks", json={"n": 0}, headers=JSON).json()["id"]
    async def fire():
        sem = asyncio.Semaphore(100)
        async with httpx.AsyncClient(base_url=cluster.url, headers=DS, timeout=120) as c:
            async def one(i):
                async with sem: return await (c.get("/tally/hit") if i % 2 else c.post(f"/stocks/{sid}/adjust?delta=1"))
            return await asyncio.gather(*[one(i) for i in range(2000)])
    rs = arun(fire())
    assert Counter(r.status_code for r in rs) == {200: 2000}
    assert not [r for r in rs if "uk-alert" in r.text]
    assert sorted(Counter(r.headers["x-instance"] for r in rs).values())[0] > 300        # spread over the three
    assert httpx.get(cluster.url + f"/stocks/{sid}", headers=JSON).json()["n"] == 1000
    assert cluster.state("tally")["n"] == 1000

def test_pages_follow_changes_from_any_instance_and_survive_losing_one(cluster, browser):
    url, board = cluster.url, "#sm-board-n"
    start = cluster.state("board").get("n", 0)
    you, them = browser.new_context(), browser.new_context()
    watcher = them.new_page()
    errors = []
    streams = []
    watcher.on("pageerror", lambda e: errors.append(str(e)))
    watcher.on("request", lambda r: streams.append(r.url) if "/_sm/stream" in r.url else None)
    watcher.goto(url + "/board")
    wait_until(lambda: sum(cluster.streams()) == 1, what=lambda: f"the watcher's stream on one instance; streams: {cluster.streams()}")
    held = cluster.streams().index(1)                          # the instance holding the watcher's stream
    actor = you.new_page(); actor.goto(url + "/board")
    for _ in range(3): actor.get_by_role("button", name="Hit").click()
    for p in (actor, watcher): shows(p, board, start + 3)      # the clicks landed anywhere; both pages follow
    # a session's own state, each of its requests on any instance
    basket = you.new_page(); basket.goto(url + "/basket")
    for i in range(1, 5):
        basket.get_by_role("button", name="Add").click()
        shows(basket, "#sm-basket-items", i)
    basket.reload(); shows(basket, "#sm-basket-items", 4)
    theirs = them.new_page(); theirs.goto(url + "/basket")
    shows(theirs, "#sm-basket-items", 0)                       # another browser's basket is its own
    # the instance holding the watcher's stream dies; changes are made while the page reconnects
    watcher.evaluate("window.smKept = 1")
    cluster.instances[held].kill()
    with httpx.Client(base_url=url, headers=DS) as c:
        assert [c.get("/board/hit").status_code for _ in range(10)] == [200] * 10
    for p in (watcher, actor): shows(p, board, start + 13)     # replayed from the shared stream: nothing lost
    assert watcher.evaluate("window.smKept") == 1              # the same page, not a reload
    assert len(streams) >= 2 and "since=0&" not in streams[-1]  # it reconnected, resuming where it was
    wait_until(lambda: sum(n for n in cluster.streams() if n > 0) >= 1, what="the watcher's stream on an instance left")
    actor.get_by_role("button", name="Hit").click()            # and it carries on live on the two left
    for p in (watcher, actor): shows(p, board, start + 14)
    assert errors == []
