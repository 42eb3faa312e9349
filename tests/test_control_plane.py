"""The notebook as the control plane for every store (issue 11): SQL records edited from a real kernel and seen in Chromium,
the history of browser clicks, the history surviving a restart on SQLite and Postgres, and live class changes."""
import contextlib, io, json, os
import pytest
from starlette.testclient import TestClient
from starmodel_nb import Entity, Field, event, create_app
from starmodel_nb.notebook import serve
from support import NO_PG, PG, fresh_pg_database, notebook_kernel

SECRET = "control-plane-secret-key-of-32-bytes-min"
CELLS = [
    "import os\nfrom starmodel_nb import Entity, Field, event, create_app, serve, inspect",
    f"""class Product(Entity, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str
    stock: int = Field(default=0, ge=0)
    @event(method="post")
    def adjust_stock(self, delta: int): self.stock += delta
srv = serve(create_app([Product], database_url=os.environ["SM_DB"], assets=os.environ["SM_ASSETS"], secret_key="{SECRET}"), name="cp")
tea = srv.app.create(Product, name="Tea", stock=5)
print(srv.port, tea.id)""",
    "view = inspect(Product, tea.id, app=srv.app)",
    "with srv.app.edit(Product, tea.id) as p: p.stock = 42",
    "print(view.fields['stock'].value, srv.app.instance(Product, tea.id).stock)",
    "import json; print(json.dumps([[c.event, c.origin, c.params, c.diff] for c in srv.app.history(Product)]))",
    "srv.stop()",
]

@pytest.fixture
def kernel(assets, tmp_path):
    os.environ["SM_ASSETS"], os.environ["SM_DB"] = assets, f"sqlite:///{tmp_path}/shop.db"
    with notebook_kernel(CELLS) as run: yield run

def wait_stock(page, key, n):
    sel = f"sm-product-{key}-stock"
    try: page.wait_for_function(f"document.getElementById('{sel}')?.textContent.trim() === '{n}'", polling=50, timeout=20_000)
    except Exception: raise AssertionError(f"waited for {n}, the page shows {page.locator('#' + sel).inner_text()!r}") from None

def test_a_sql_record_edited_in_the_kernel_and_clicked_in_the_browser(kernel, browser):
    kernel(0)
    port, key = map(int, kernel(1).split())
    kernel(2)
    page = browser.new_context().new_page()
    page.goto(f"http://127.0.0.1:{port}/products/{key}")
    wait_stock(page, key, 5)
    kernel(3); wait_stock(page, key, 42)                         # an edit in a cell reaches the open page
    page.get_by_label("Delta").fill("3")
    page.get_by_role("button", name="Adjust stock").click()
    wait_stock(page, key, 45)
    for _ in range(100):                                          # the widget follows between cells
        if kernel(4) == "45 45": break
    assert kernel(4) == "45 45"
    rows = json.loads(kernel(5))
    assert [r[0] for r in rows] == ["create", "edit", "adjust_stock"]
    assert [r[1] for r in rows][:2] == ["notebook", "notebook"] and rows[2][1].startswith("browser:")
    assert rows[2][2:] == [{"delta": 3}, {"stock": [42, 45]}] and rows[1][3] == {"stock": [5, 42]}
    kernel(6)

class Visit(Entity):
    model_config = {"ui": {"hidden": ["secret"]}}
    pages: int = 0
    secret: str = ""
    @event
    def view(self): self.pages += 1; self.secret = f"s{self.pages}"

def test_history_of_browser_clicks_carries_origin_and_masked_diff():
    app = create_app([Visit], secret_key=SECRET)
    ann, bob = (TestClient(app, headers={"Datastar-Request": "true"}) for _ in range(2))
    ann.get("/visit/view"); ann.get("/visit/view"); bob.get("/visit/view")
    rows = app.history(Visit)
    assert [(c.event, c.before, c.after) for c in rows] == [("view", 0, 1), ("view", 1, 2), ("view", 0, 1)]
    origins = [c.origin for c in rows]
    assert origins[0] == origins[1] != origins[2] and all(o.startswith("browser:") and len(o) == 16 for o in origins)
    assert all(c.key not in c.origin for c in rows)                        # a session id never appears in the log
    assert [c.diff for c in rows][:2] == [{"pages": [0, 1], "secret": ["***", "***"]}, {"pages": [1, 2], "secret": ["***", "***"]}]
    with app.edit(Visit, rows[0].key) as v: v.pages = 10
    assert app.history(Visit, rows[0].key, last=1)[0].origin == "notebook"

class Carton(Entity, table=True):
    id: int | None = Field(default=None, primary_key=True)
    label: str
    n: int = 0
    @event(method="post")
    def add(self, k: int = 1): self.n += k

@pytest.fixture(params=["sqlite", "postgres"])
def history_db(request, tmp_path):
    if request.param == "sqlite": yield f"sqlite:///{tmp_path}/cartons.db"; return
    if not PG: pytest.skip(NO_PG)
    with fresh_pg_database() as url: yield url

def test_history_survives_a_restart(history_db):
    app = create_app([Carton], database_url=history_db, secret_key=SECRET)
    with TestClient(app, headers={"Accept": "application/json"}) as api:   # lifespan: shutting down writes what is buffered
        key = api.post("/cartons", json={"label": "a"}).json()["id"]
        TestClient(app, headers={"Datastar-Request": "true"}).post(f"/cartons/{key}/add?k=2")
        api.patch(f"/cartons/{key}", json={"label": "b"})
    again = create_app([Carton], database_url=history_db, secret_key=SECRET)          # a new process on the same database
    rows = again.history(Carton)
    assert [(c.event, c.origin.split(":")[0], c.diff) for c in rows] == [
        ("create", "api", {"id": [None, key], "label": [None, "a"], "n": [None, 0]}), ("add", "browser", {"n": [0, 2]}),
        ("update", "api", {"label": ["a", "b"]})]
    again.restore(Carton, key, version=2)
    assert (again.instance(Carton, key).label, again.instance(Carton, key).n) == ("a", 2)
    assert type(app.sm.history).__name__ == "SQLHistory"

def test_a_redefinition_keeps_what_fits_and_reports_what_does_not():
    class Level(Entity):
        model_config = {"slug": "level"}
        value: str = "0"
    srv = serve(create_app([Level], secret_key=SECRET), name="redefine")
    try:
        for k, v in (("a", "1"), ("b", "2"), ("c", "high")):
            with srv.app.edit(Level, k) as lv: lv.value = v
        class Level(Entity):                                                    # noqa: F811 -- a notebook cell run again
            model_config = {"slug": "level"}
            value: int = 0
            unit: str = "m"
            @event
            def up(self): self.value += 1
        out = io.StringIO()
        with contextlib.redirect_stdout(out): srv = serve(create_app([Level], secret_key=SECRET), name="redefine")
        report = [l for l in out.getvalue().splitlines() if "does not fit" in l]
        assert len(report) == 1 and "'c'" in report[0] and "value: Input should be a valid integer" in report[0], out.getvalue()
        assert sorted((k, o.value, o.unit) for k, o, _ in srv.app.instances(Level)) == [("a", 1, "m"), ("b", 2, "m")]
        with pytest.raises(Exception, match="does not fit"): srv.app.fire(Level, "up", "c")
        srv.app.reset(Level, "c")
        assert srv.app.fire(Level, "up", "c").value == 1 and srv.app.upgrade() == []
    finally: srv.stop()
