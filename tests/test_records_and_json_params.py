"SQL records in the notebook kit and the control plane, JSON event parameters, natural keys, the admin's poll, the demo import (issue 11)."
import re
from itertools import islice
from urllib.parse import quote
import httpx, pytest
from starlette.testclient import TestClient
from starmodel_nb import Entity, Field, event, create_app, inspect
from starmodel_nb.core import registry
from starmodel_nb.adapters.persistence.memory import MemoryRepository
from support import LiveServer, arun, wait_until
from test_stream import sse

SECRET = "issue11-secret-key-of-at-least-32-bytes"
JSON, DS = {"Accept": "application/json"}, {"Datastar-Request": "true"}

class Product(Entity, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str
    stock: int = 0
    @event(method="post")
    def adjust_stock(self, delta: int):
        if self.stock + delta < 0: raise ValueError("Insufficient stock")
        self.stock += delta

class Doc(Entity, table=True):
    slug: str = Field(primary_key=True)
    title: str = ""
    @event(method="post")
    def touch(self): self.title += "!"

class Fragile(Entity):
    "An entity the admin must count without copying."
    tags: list[str] = []
    def model_copy(self, **kw): raise AssertionError("copied an instance to count it")

class Point(Entity):
    x: int = 0
    y: int = 0

class Batcher(Entity):
    count: int = 0
    last: list[str] = []
    @event
    def process_batch(self, items: list[str]): self.count += len(items); self.last = items
    @event(method="post")
    def move(self, to: Point, tags: dict[str, int] | None = None): self.count += to.x + to.y + sum((tags or {}).values())

def shop(**kw):
    app = create_app([Product, Doc, Batcher], database_url="sqlite://", secret_key=SECRET, **kw)
    TestClient(app, headers=JSON).post("/products", json={"name": "lamp", "stock": 3})
    return app

# 1. inspect() of a SQL entity with an integer key

def test_inspect_sql_entity_with_integer_key():
    app = shop()
    cv = inspect(Product, app=app)
    assert "1 live instance" in cv.count.value and "<td>1</td>" in cv.table.value and "lamp" in cv.table.value
    v = inspect(Product, 1, app=app)
    assert "<code>1</code>" in v.widget.children[0].value
    v.fields["stock"].value = 7                                       # an edit in the widget changes the row
    assert app.instance(Product, 1).stock == 7 and v.status.value == ""
    (delta, button), = [b.children for b in v.events.values()]
    delta.value = 2
    button.click()                                                    # an event button fires through the unit of work
    assert app.instance(Product, 1).stock == 9 and v.status.value == ""
    wait_until(lambda: v.fields["stock"].value == 9, what="the view to follow the change")   # drawn off the app's loop
    TestClient(app, headers=JSON).patch("/products/1", json={"stock": 4})
    wait_until(lambda: v.fields["stock"].value == 4, what="the view to follow a change made elsewhere")
    # the list redraws off the app's loop (it reads the store through the control plane): in a moment
    wait_until(lambda: "<td>4</td>" in cv.table.value, what="the class view to redraw")
    v.close(); cv.close()

# 2. control-plane changes of a record reach every viewer

def test_control_plane_changes_of_a_record_are_published_on_its_channel():
    app, got = shop(), []
    app.sm.bus.subscribe(got.append)
    with app.edit(Product, 1) as p: p.stock = 42
    app.fire(Product, "adjust_stock", 1, delta=1)
    assert [(e.channel, e.key, e.state["stock"]) for e in got] == [("global", "1", 42), ("global", "1", 43)]

def test_control_plane_changes_of_a_record_reach_a_live_stream():
    app = shop()
    with LiveServer(app) as srv, httpx.Client(base_url=srv.url, headers={**DS, "Accept": "text/event-stream"}) as c:
        with c.stream("GET", "/_sm/stream") as r:
            live = sse(r)
            assert next(live)["hello"] == 1
            with app.edit(Product, 1) as p: p.stock = 42
            app.fire(Product, "adjust_stock", 1, delta=1)
            got = list(islice(live, 2))
    assert [(m["id"], m["list"], m["signals"]["product"]["stock"]) for m in got] == [("sm-product-1", "products", 42), ("sm-product-1", "products", 43)]

# 3. events with list, dict and model parameters

def test_list_parameter_round_trip_from_the_rendered_action():
    app = shop()
    act = str(Batcher.process_batch(["a", "b"]))
    url = re.fullmatch(r"@get\('([^']*)'\)", act).group(1)
    c = TestClient(app, headers=DS)
    r = c.get(url)
    assert r.status_code == 200 and '{"batcher":{"count":2,"last":["a","b"]}}' in r.text
    assert app.instances(Batcher)[0][1].last == ["a", "b"]

def test_json_parameters_in_query_and_form():
    c = TestClient(shop(), headers=DS)
    r = c.get("/batcher/process_batch", params={"items": '["x"]'})
    assert r.status_code == 200 and '"count":1' in r.text
    r = c.post("/batcher/move", data={"to": '{"x": 2, "y": 3}', "tags": '{"a": 5}'})
    assert r.status_code == 200 and '"count":11' in r.text
    r = c.post("/batcher/move", data={"to": '{"x": 1, "y": 0}', "tags": ""})      # an empty optional input: its default
    assert r.status_code == 200 and '"count":12' in r.text

@pytest.mark.parametrize("params, where", [({"items": "[a, b"}, "items: invalid JSON: "), ({"items": "a"}, "items: invalid JSON: "),
                                           ({"items": "[NaN]"}, "items: invalid JSON: "), ({"items": '{"a": 1}'}, "items: Input should be a valid list")])
def test_bad_json_parameter_is_a_422_naming_it(params, where):
    r = TestClient(shop(), headers=DS).get("/batcher/process_batch", params=params)
    assert r.status_code == 422 and where in r.text, r.text

def test_event_form_takes_json_parameters_as_typed_text():
    from starmodel_nb.adapters.ui.monster import event_control
    from fasthtml.common import to_xml
    html = to_xml(event_control(Batcher, Batcher.__sm_events__["process_batch"]))
    inp = re.search(r"<input[^>]*name=\"items\"[^>]*>", html).group(0)
    assert 'type="text"' in inp and """placeholder='["a", "b"]'""" in inp and "required" in inp
    html = to_xml(event_control(Batcher, Batcher.__sm_events__["move"]))
    assert """placeholder='{"x": 1, "y": 1}'""" in html

def test_model_argument_renders_as_json():
    assert str(Batcher.move(Point(x=1, y=2))) == "@post('/batcher/move?to=%7B%22x%22%3A%201%2C%20%22y%22%3A%202%7D')"

# 4. a text primary key: quoted in URLs, set on create, read-only afterwards

def test_text_key_is_quoted_in_the_default_card_actions():
    app = shop()
    c = TestClient(app, headers=JSON)
    assert c.post("/docs", json={"slug": "x?y z", "title": "t"}).status_code == 201
    page = TestClient(app).get("/docs/x%3Fy%20z").text
    assert "@post('/docs/x%3Fy%20z/touch')" in page and str(Doc.touch.at("x?y z")) == "@post('/docs/x%3Fy%20z/touch')"

def test_natural_key_is_set_on_create_and_read_only_afterwards():
    app = shop()
    c = TestClient(app, headers=JSON)
    r = c.post("/docs", json={"slug": "x?y z", "title": "t"})
    assert r.status_code == 201 and r.headers["location"].endswith("/docs/x%3Fy%20z") and r.json() == {"slug": "x?y z", "title": "t"}
    assert c.get("/docs/x%3Fy%20z").json() == {"slug": "x?y z", "title": "t"}
    r = c.post("/docs", json={"title": "no key"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == "slug", r.text
    for m in (c.patch, c.put):
        r = m("/docs/x%3Fy%20z", json={"slug": "other", "title": "u"})
        assert r.status_code == 422 and r.json()["detail"] == [{"loc": "slug", "msg": "read-only"}], r.text
    r = c.post("/products", json={"id": 7, "name": "x"})
    assert r.status_code == 422 and r.json()["detail"] == [{"loc": "id", "msg": "set by the database"}]
    assert TestClient(app, headers=DS).post("/docs/x%3Fy%20z/touch").status_code == 200    # its page's action works
    assert c.get("/docs/x%3Fy%20z").json()["title"] == "t!"

def test_natural_key_in_the_new_form_only():
    app = shop()
    c = TestClient(app)
    new = c.get("/docs/new").text
    assert re.search(r'<input[^>]*name="slug"[^>]*required', new) and 'name="title"' in new
    assert 'name="id"' not in c.get("/products/new").text
    r = TestClient(app, headers=DS).post("/docs", data={"slug": "a b", "title": "form"})
    assert r.status_code in (200, 303) and TestClient(app, headers=JSON).get("/docs/a%20b").json()["title"] == "form"
    edit = c.get("/docs/a%20b/edit").text
    assert 'name="slug"' not in edit and 'name="title"' in edit

# 5. the admin index polls only its own element, counting without copies

def admin(app): return TestClient(app, client=("127.0.0.1", 1), base_url="http://127.0.0.1:5001")

def test_admin_index_partial_is_a_patch_of_its_element():
    a = admin(shop(admin=True))
    full, part = a.get("/admin"), a.get("/admin?partial=1")
    assert part.status_code == 200 and part.headers["content-type"].startswith("text/event-stream")
    assert part.text.startswith("event: datastar-patch-elements\n") and 'id="sm-admin-index"' in part.text
    assert "<html" not in part.text and len(part.text) * 2 < len(full.text)

def test_admin_counts_memory_and_sql_without_copies():
    app = create_app([Product, Doc, Fragile], database_url="sqlite://", secret_key=SECRET, admin=True)
    TestClient(app, headers=JSON).post("/products", json={"name": "lamp"})
    repo = app.sm.repo_for(Fragile)
    for k in "abcd": app.call(repo.save(Fragile, k, Fragile(), 0))
    row = lambda name, text: re.search(rf">{name}</a></td><td>[^<]*</td><td>[^<]*</td><td>([^<]*)</td>", text).group(1)
    for text in (admin(app).get("/admin?partial=1").text, admin(app).get("/admin").text):
        assert (row("Fragile", text), row("Product", text), row("Doc", text)) == ("4", "1", "0")

def test_memory_count_is_live_instances_only():
    now = [0.0]
    repo = MemoryRepository(ttl=10, clock=lambda: now[0])
    async def go():
        for k in "abc": await repo.save(Batcher, k, Batcher(), 0)
        await repo.save(Point, "p", Point(), 0)
        n = await repo.count(Batcher), await repo.count(Point), await repo.count(Fragile)
        now[0] = 5; await repo.save(Batcher, "d", Batcher(), 0)
        now[0] = 12                          # a, b and c idle past their ttl (not swept yet), d still live
        return n, await repo.count(Batcher)
    assert arun(go()) == ((3, 1, 0), 1)

# 6. importing the demo registers nothing

def test_importing_the_demo_leaves_the_counter_name_free():
    import starmodel_nb.demo   # noqa: F401
    class Counter(Entity):
        clicks: int = 0
        @event
        def click(self): self.clicks += 1
    try:
        assert registry.get("counter") is Counter
        app = create_app(database_url="sqlite://", secret_key=SECRET)
        c = TestClient(app, headers=DS)
        assert c.get("/counter/click").status_code == 200 and "clicks" in c.get("/counter").text
        assert app.sm.entity("sharedcounter") is None
    finally: registry.remove(Counter)
