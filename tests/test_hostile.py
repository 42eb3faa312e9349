"""Hostile and odd input, one test per case: nothing freezes, leaks, blocks or is lost (issue 9)."""
import threading
import httpx, pytest
from starlette.testclient import TestClient
from starmodel_nb import Entity, Field, event, create_app
from support import LiveServer, wait_until

DS = {"Datastar-Request": "true"}
JSON = {"Accept": "application/json"}

class Shared(Entity):
    model_config = {"scope": "global"}
    ratio: float = 1.0
    label: str = ""
    @event
    def set_ratio(self, r: float): self.ratio = r
    @event(method="post")
    def set_label(self, label: str): self.label = label
    @event
    def compute(self): self.ratio = float("inf") / float("inf")   # server code making a NaN

class Part(Entity, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str
    price: float = 0.0
    token: str = Field(default="", exclude=True)            # kept out of the API, not out of the database
    @event(method="post")
    def issue_token(self, token: str): self.token = token

@pytest.fixture
def cli(tmp_path):
    app = create_app([Shared, Part], database_url=f"sqlite:///{tmp_path}/h.db", secret_key="hostile-tests-" + "k" * 32)
    with TestClient(app, headers=DS) as c: yield c

def ratio(cli) -> float: return cli.app.instance(Shared).ratio

@pytest.mark.parametrize("how", ["query", "signals", "json", "form"])
@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "nan", "inf", "1e999"])
def test_non_finite_event_parameters_are_422_naming_the_field(cli, how, value):
    if how == "query": r = cli.get(f"/shared/set_ratio?r={value}")
    elif how == "signals": r = cli.get("/shared/set_ratio", params={"datastar": f'{{"shared": {{"r": {value}}}}}'})
    elif how == "json": r = cli.post("/shared/set_label", content=f'{{"label": "x", "r": {value}}}', headers={"Content-Type": "application/json"})
    else: r = cli.get("/shared/set_ratio", params={"r": value})
    assert r.status_code == 422, r.text
    assert ("r:" in r.text) or ("NaN" in r.text or "Infinity" in r.text or "invalid JSON" in r.text), r.text
    assert ratio(cli) == 1.0

def test_nan_made_by_server_code_is_refused_and_rolled_back(cli):
    r = cli.get("/shared/compute")
    assert r.status_code == 200 and "finite" in r.text and ratio(cli) == 1.0

@pytest.mark.parametrize("body", ['{"name": "a", "price": NaN}', '{"name": "a", "price": Infinity}', '{"name": "a", "price": 1e999}'])
def test_non_finite_record_fields_are_422_and_the_list_stays_readable(cli, body):
    r = cli.post("/parts", content=body, headers={**JSON, "Content-Type": "application/json"})
    assert r.status_code == 422 and "price" in r.text, r.text
    ok = cli.post("/parts", json={"name": "bolt", "price": 2.5}, headers=JSON)
    assert ok.status_code == 201
    pid = ok.json()["id"]
    r = cli.patch(f"/parts/{pid}", content='{"price": NaN}', headers={**JSON, "Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    r = cli.patch(f"/parts/{pid}", data={"price": "inf"})                  # the edit form: shown again with the error
    assert "sm-part-form-price-error" in r.text and "Input should be a finite number" in r.text, r.text
    assert cli.get("/parts", headers=JSON).status_code == 200 and cli.get(f"/parts/{pid}", headers=JSON).json()["price"] == 2.5

def test_deep_json_is_422_not_500(cli):
    deep = '{"label": ' + "[" * 5000 + "]" * 5000 + "}"
    r = cli.post("/shared/set_label", content=deep, headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and "nested deeper" in r.text

def test_an_excluded_field_set_by_an_event_is_saved(cli):
    pid = cli.post("/parts", json={"name": "key"}, headers=JSON).json()["id"]
    r = cli.post(f"/parts/{pid}/issue_token", data={"token": "t-123"})
    assert r.status_code == 200
    obj = cli.app.instance(Part, pid)
    assert obj.token == "t-123"                                            # in the database
    assert "token" not in cli.get(f"/parts/{pid}", headers=JSON).json()    # not in the API

started, gate = threading.Event(), threading.Event()

class Sleeper(Entity):
    n: int = 0
    @event
    def nap(self):                      # a plain def calling something that blocks
        started.set(); gate.wait(30); self.n += 1
    @event
    def poke(self): self.n += 1

def test_a_blocking_sync_event_stalls_only_its_own_instance():
    app = create_app([Sleeper], secret_key="hostile-tests-" + "k" * 32)
    with LiveServer(app) as srv:
        sleeper = httpx.Client(base_url=srv.url, headers=DS, timeout=60)
        other = httpx.Client(base_url=srv.url, headers=DS, timeout=10)
        sleeper.get("/sleeper"); other.get("/sleeper")                    # two sessions
        done = []
        t = threading.Thread(target=lambda: done.append(sleeper.get("/sleeper/nap").status_code))
        t.start()
        assert started.wait(30)
        try: r = other.get("/sleeper/poke")                                # answered while the nap still blocks
        finally: gate.set()
        t.join(30)
    assert r.status_code == 200 and '"n":1' in r.text
    assert done == [200]

class Visits(Entity):
    n: int = 0
    @event
    def visit(self): self.n += 1

def test_two_apps_on_one_host_keep_their_own_sessions():
    c = httpx.Client(headers=DS, timeout=30)                               # one browser: one cookie jar, which ignores ports
    with LiveServer(create_app([Visits], secret_key="first-notebook-kernel-" + "a1" * 16)) as a, \
         LiveServer(create_app([Visits], secret_key="second-notebook-kernel-" + "b2" * 16)) as b:   # two kernels, two keys
        for _ in range(3): c.get(a.url + "/visits/visit")
        c.get(b.url + "/visits/visit")
        r = c.get(a.url + "/visits/visit")
    assert '"n":4' in r.text, r.text
    assert {k.name for k in c.cookies.jar} >= {f"starmodel_{a.port}", f"starmodel_{b.port}"}

@pytest.mark.parametrize("key", ["secret", "changeme", "short-but-random-Xq3", "x" * 64])
def test_a_weak_secret_is_refused_at_start(key):
    with pytest.raises(ValueError, match="token_urlsafe"): create_app([Visits], secret_key=key)

def test_the_cookie_is_secure_behind_https_from_a_trusted_proxy_only():
    def cookie(**kw):
        app = create_app([Visits], secret_key="hostile-tests-" + "k" * 32, **kw)
        r = TestClient(app, headers={**DS, "X-Forwarded-Proto": "https"}).get("/visits/visit")
        return r.headers.get_list("set-cookie")[0]
    assert "secure" not in cookie()                                        # anyone can send the header
    assert cookie(trusted_proxies="testclient").endswith("secure") and cookie(cookie_secure=True).endswith("secure")

class Supplier(Entity, table=True):
    model_config = {"ui": {"hidden": ["notes", "cost"]}}
    id: int | None = Field(default=None, primary_key=True)
    name: str
    cost: int = 0
    notes: str = ""

def test_fields_hidden_in_the_ui_stay_on_the_server(tmp_path):
    app = create_app([Supplier], database_url=f"sqlite:///{tmp_path}/s.db", secret_key="hostile-tests-" + "k" * 32)
    with LiveServer(app) as srv:
        api = httpx.Client(base_url=srv.url, headers=JSON, timeout=30)
        for n in ("b-corp", "a-corp"): assert api.post("/suppliers", json={"name": n}).status_code == 201
        with app.edit(Supplier, 1) as o: o.cost, o.notes = 777, "secret-cheap"
        with app.edit(Supplier, 2) as o: o.cost, o.notes = 1, "secret-dear"
        assert [set(i) for i in api.get("/suppliers").json()["items"]] == [{"id", "name"}] * 2          # not in the JSON API
        assert "secret" not in api.get("/suppliers/1").text and "777" not in api.get("/suppliers/1").text
        assert [i["id"] for i in api.get("/suppliers?sort=cost").json()["items"]] == [1, 2]              # no sorting by it
        assert api.get("/suppliers?q=secret").json()["items"] == []                                       # no searching it
        page = httpx.get(srv.url + "/suppliers/1").text
        assert "secret" not in page and "777" not in page                                               # nor on a page
        seen = []
        with httpx.stream("GET", srv.url + "/_sm/stream", headers=DS, timeout=30) as r:                 # a cookieless stream
            lines = r.iter_lines()
            assert "hello" in next(l for l in lines if l.startswith("data:"))
            with app.edit(Supplier, 1) as o: o.notes, o.name = "secret-still", "b-corp ltd"
            for l in lines:
                if l.startswith("data:"): seen.append(l); break
    assert "b-corp ltd" in seen[0] and "secret" not in seen[0] and "777" not in seen[0], seen

class Gizmo(Entity, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str
    stock: int = 0
    @event(method="post")
    def adjust(self, delta: int): self.stock += delta

@pytest.fixture(scope="module")
def pg_url():
    from support import PG, NO_PG, fresh_pg_database
    if not PG: pytest.skip(NO_PG)
    with fresh_pg_database("sm_odd") as url: yield url

@pytest.fixture(params=["sqlite", "postgres"])
def gizmos(request, tmp_path):
    url = f"sqlite:///{tmp_path}/g.db" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    app = create_app([Gizmo], database_url=url, secret_key="hostile-tests-" + "k" * 32)
    with TestClient(app, headers=JSON, raise_server_exceptions=False) as c:
        c.post("/gizmos", json={"name": "a"})
        with app.edit(Gizmo, 1) as g: g.stock = 0                        # record 1 as the tests expect, on a shared database too
        yield c
    app.sm.repo_for(Gizmo).engine.dispose()

BIG = 2**63
ODD = [("GET", f"/gizmos/{BIG * 10**5}", None, 404, ""), ("GET", "/gizmos/" + "9" * 5000, None, 404, ""),
       ("GET", "/gizmos/%00", None, 404, ""), ("GET", f"/gizmos?page={BIG * 10**5}", None, 200, ""),
       ("GET", "/gizmos?page=-1&per_page=0", None, 200, ""), ("POST", "/gizmos", {"name": "b", "stock": BIG}, 422, "stock"),
       ("POST", "/gizmos", {"name": "b", "stock": 2**31}, 422, "stock"), ("POST", "/gizmos", {"name": "b", "stock": -BIG - 1}, 422, "stock"),
       ("POST", "/gizmos", {"name": "b\x00c"}, 422, "name"), ("POST", "/gizmos", {"id": BIG, "name": "big"}, 422, "id"),
       ("PATCH", "/gizmos/1", {"stock": BIG}, 422, "stock"), ("DELETE", f"/gizmos/{BIG * 10**5}", None, 404, ""),
       ("PATCH", f"/gizmos/{BIG * 10**5}", {"name": "x"}, 404, ""), ("POST", f"/gizmos/{BIG * 10**5}/adjust?delta=1", None, 404, "")]

@pytest.mark.parametrize("method, path, body, status, field", ODD)
def test_odd_input_is_a_4xx_naming_the_field(gizmos, method, path, body, status, field):
    r = gizmos.request(method, path, json=body, headers=DS if path.endswith("delta=1") else {})
    assert r.status_code == status, r.text
    if field: assert r.json()["detail"][0]["loc"] == field, r.text
    assert gizmos.get("/gizmos/1").json()["stock"] == 0

def test_an_event_pushing_an_int_past_its_column_is_refused(gizmos):
    r = gizmos.post(f"/gizmos/1/adjust?delta={2**40}", headers=DS)
    assert r.status_code == 200 and "stock" in r.text and "less than or equal to 2147483647" in r.text
    assert gizmos.get("/gizmos/1").json()["stock"] == 0

class Pad(Entity):
    text: str = ""
    @event(method="post")
    def fill(self, text: str): self.text = text

def test_memory_and_replay_are_capped_in_bytes():
    app = create_app([Pad], secret_key="hostile-tests-" + "k" * 32, memory_bytes=5_000_000, stream_replay_bytes=3_000_000)
    big = "x" * 900_000
    for _ in range(60): TestClient(app, headers=DS).post("/pad/fill", data={"text": big})   # 60 sessions of 0.9 MB each
    mem, hub = app.sm.repo_for(Pad), app.sm.hub
    assert mem.held <= 5_000_000 and len(app.instances(Pad)) <= 5
    assert hub.held <= 3_000_000 and len(hub.buffered()) <= 3

def test_one_client_cannot_hold_every_stream_slot():
    app = create_app([Pad], secret_key="hostile-tests-" + "k" * 32, stream_per_client=3)
    with LiveServer(app) as srv:
        streams = [httpx.stream("GET", srv.url + "/_sm/stream", headers=DS, timeout=30) for _ in range(4)]
        got = [s.__enter__().status_code for s in streams]
        assert got == [200, 200, 200, 503]
        for s in streams: s.__exit__(None, None, None)
        wait_until(lambda: not app.sm.hub.by_client(), timeout=30, what="closing the streams to free their slots")
        with httpx.stream("GET", srv.url + "/_sm/stream", headers=DS, timeout=30) as r: assert r.status_code == 200

def test_a_non_finite_number_written_by_another_program_breaks_no_reader(cli):
    from sqlalchemy import text
    pid = cli.post("/parts", json={"name": "probe", "price": 1.0}, headers=JSON).json()["id"]
    with cli.app.sm.repo_for(Part).engine.begin() as c: c.execute(text(f"UPDATE part SET price = 9e999 WHERE id = {pid}"))
    assert cli.get(f"/parts/{pid}", headers=JSON).json()["price"] is None                # valid JSON: null
    assert cli.get("/parts", headers=JSON).status_code == 200 and cli.get(f"/parts/{pid}").status_code == 200

class Tag(Entity, table=True):
    code: str = Field(primary_key=True)
    title: str = ""

def test_a_text_key_cannot_end_the_url_of_an_action(tmp_path):
    from urllib.parse import quote
    app = create_app([Tag], database_url=f"sqlite:///{tmp_path}/t.db", secret_key="hostile-tests-" + "k" * 32)
    c = TestClient(app)
    key = "x'); window.hacked = 1; @post('tags"
    from sqlalchemy import insert
    from starmodel_nb.adapters.persistence.sql import VERSION
    with app.sm.repo_for(Tag).engine.begin() as conn: conn.execute(insert(Tag.__table__).values(code=key, title="t", **{VERSION: 1}))
    page = c.get("/tags/" + quote(key, safe="")).text
    assert "@delete('/tags/x%27%29%3B%20window.hacked%20%3D%201%3B%20%40post%28%27tags')" in page, page
    assert "window.hacked = 1" not in page.replace("&#x27;", "'").split("<main")[1].split("data-signals")[0]

def test_text_that_is_not_unicode_is_refused(cli):
    r = cli.get("/shared/set_ratio", params={"datastar": '{"shared": {"r": 1, "label": "\\ud800"}}'})
    assert r.status_code == 422 and "label" in r.text and "surrogate" in r.text
    r = cli.post("/shared/set_label", content='{"label": "\\udfff"}', headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and cli.get("/shared").status_code == 200

def test_the_admin_answers_this_machine_only_and_shows_no_session_id():
    app = create_app([Visits], secret_key="hostile-tests-" + "k" * 32, admin=True)
    TestClient(app, headers=DS).get("/visits/visit")
    ((sid, _, _),) = app.instances(Visits)
    here = TestClient(app, client=("127.0.0.1", 1), base_url="http://127.0.0.1:5001")
    page = here.get("/admin/visits").text
    assert here.get("/admin").status_code == 200 and sid not in page and "1 live instance" in page
    assert here.get(f"/admin/visits/{sid}").status_code == 404                      # a full id opens nothing
    for c in (TestClient(app, client=("203.0.113.9", 1), base_url="http://127.0.0.1:5001"),   # another machine
              TestClient(app, client=("127.0.0.1", 1), base_url="http://rebound.example")):  # a DNS name rebound to 127.0.0.1
        assert c.get("/admin").status_code == 403 and c.get("/admin/visits").status_code == 403
        assert c.post("/admin/visits/bulk_delete", data={"ids": "1"}, headers=DS).status_code == 403

def test_security_headers_on_every_response(cli):
    for r in (cli.get("/shared"), cli.get("/shared/set_ratio?r=2"), cli.get("/nothing")):
        assert r.headers["x-content-type-options"] == "nosniff" and r.headers["referrer-policy"] == "same-origin"
        assert r.headers["content-security-policy"].startswith("frame-ancestors 'self' http://localhost:*")

# ---------------------------------------------------------------- in Chromium

EXPRESSIONS = ["Contact me @home(ish)", "@get('/shared/compute')", "$shared.ratio = 99", "el.remove()", "${alert(1)}",
               "`${document.title}`", "a\\", "b\\\"; window.hacked = 1; //", "'; window.hacked = 1; '", "\\u0040x(",
               "🖕JS_DS🚀 window.hacked = 1 🖕JS_DS🚀", "</main><script>window.hacked = 1</script>", "@post('/x', {a: $b})"]

@pytest.fixture
def live(live_server, tmp_path, assets):
    return live_server(create_app([Shared, Part], database_url=f"sqlite:///{tmp_path}/h.db", assets=assets, secret_key="hostile-tests-" + "k" * 32))

def watch(page):
    log = []
    page.on("pageerror", lambda e: log.append(f"pageerror: {e}"))
    page.on("dialog", lambda d: (log.append(f"dialog: {d.message}"), d.dismiss()))
    return log

def test_text_that_looks_like_datastar_stays_text(browser, live):
    app, page = live.server.config.app, browser.new_context().new_page()
    log = watch(page)
    for text in EXPRESSIONS:
        with app.edit(Shared) as s: s.label = text
        page.goto(live.url + "/shared")                                        # in the page's data-signals
        page.wait_for_function("t => document.getElementById('sm-shared-label').textContent === t", arg=text, polling=50, timeout=20_000)
        app.fire(Shared, "set_label", label=text + "!")                       # and through the live stream
        page.wait_for_function("t => document.getElementById('sm-shared-label').textContent === t", arg=text + "!", polling=50, timeout=20_000)
        assert log == [] and page.evaluate("window.hacked") is None, (text, log)
    app.fire(Shared, "set_ratio", r=2.5)
    page.wait_for_function("document.getElementById('sm-shared-ratio').textContent.trim() === '2.5'", polling=50, timeout=20_000)
    assert app.instance(Shared).ratio == 2.5 and log == []

def test_a_nan_sent_freezes_no_page(browser, live):
    ctx = browser.new_context()
    a, b = ctx.new_page(), ctx.new_page(); log = watch(a) + watch(b)
    for p in (a, b): p.goto(live.url + "/shared")
    r = httpx.get(live.url + "/shared/set_ratio?r=NaN", headers=DS)
    assert r.status_code == 422
    a.evaluate("fetch('/shared/set_ratio?r=NaN', {headers: {'Datastar-Request': 'true'}})")
    a.get_by_role("alert").filter(has_text="finite").wait_for(timeout=20_000)
    live.server.config.app.fire(Shared, "set_ratio", r=3.0)                    # both pages still follow
    for p in (a, b): p.wait_for_function("document.getElementById('sm-shared-ratio').textContent.trim() === '3'", polling=50, timeout=20_000)
    c = ctx.new_page(); c.goto(live.url + "/shared")                            # and a new tab of the same browser loads
    c.wait_for_function("document.getElementById('sm-shared-ratio').textContent.trim() === '3'", polling=50, timeout=20_000)
    assert [l for l in log if "finite" not in l] == []
