"""The design's six entities, as `nbs/examples/06_design_examples.ipynb` copies them from the design: the same values in
every store (SQLite and Postgres, fakeredis and Redis, memory) from a server in another time zone, BaseTable's UUID key
and timestamps in Chromium's forms, the admin and a migration."""
import json, subprocess, sys, uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
import httpx, pytest
from support import NO_PG, NO_REDIS, PG, REDIS, Uvicorn, fresh_pg_database

NOTEBOOK = Path(__file__).resolve().parent.parent / "nbs" / "examples" / "06_design_examples.ipynb"
NAMES = ("UserSession", "Product", "UserAnalytics", "BlogPost", "ShoppingCart", "RecentActivity")
DS = {"Datastar-Request": "true"}
JSON = {"Accept": "application/json"}

def design_module(app: bool = True) -> str:
    "The notebook's imports and the six classes, as the notebook (and the design) write them, then (if `app`) an app of them."
    cells = ["".join(c["source"]) for c in json.loads(NOTEBOOK.read_text())["cells"] if c["cell_type"] == "code"]
    classes = [c for c in cells if any(c.lstrip().startswith(("class " + n, f"from fastsqlmodel import BaseTable\n\nclass {n}")) for n in NAMES)]
    assert len(classes) == 6, classes
    return "\n\n".join([cells[0], *classes, *(["from starmodel_nb import create_app\napp = create_app(admin=True)\n"] if app else [])])

def project(tmp_path, app: bool = True) -> Path:
    (tmp_path / "design_app.py").write_text(design_module(app))
    (tmp_path / "settings.ini").write_text("[starmodel]\napp = design_app\n")
    return tmp_path

def served(tmp_path, **env) -> Uvicorn:
    env = {"STARMODEL_DATABASE_URL": f"sqlite:///{tmp_path}/design.db", "STARMODEL_APP": f"d{uuid.uuid4().hex[:8]}",
           "STARMODEL_SECRET_KEY": "design-examples-secret-key-0123456789", "TZ": "America/New_York", **env}
    return Uvicorn("design_app:app", project(tmp_path), env, "/products").ready()

@pytest.fixture(params=["embedded", "servers"])
def stores(request):
    "SQLite and the embedded fakeredis, or the real Postgres and Redis (with the STARMODEL_TEST_* variables)."
    if request.param == "embedded": yield {}; return
    if not (PG and REDIS): pytest.skip(NO_PG if not PG else NO_REDIS)
    with fresh_pg_database("sm_design") as url: yield {"STARMODEL_DATABASE_URL": url, "STARMODEL_REDIS_URL": REDIS, "STARMODEL_MEMORY_STORE": "redis"}

def test_every_store_keeps_the_same_values(tmp_path, stores):
    srv = served(tmp_path, **stores)
    try:
        with httpx.Client(base_url=srv.url, headers=JSON, timeout=30) as c, httpx.Client(base_url=srv.url, headers=DS, timeout=30) as b:
            naive = "2026-03-04T05:06:07.123456"          # New York wall time (EST): 10:06:07.123456 in UTC
            post = c.post("/blogposts", json={"title": "T", "content": "C", "created_at": naive})
            assert post.status_code == 422 and "read-only" in post.text            # BaseTable-style timestamps: the record's
            post = c.post("/blogposts", json={"title": "T", "content": "C"}).json()
            ada = c.post("/useranalytics", json={"user_id": "ada", "last_activity": naive}).json()
            pen = c.post("/products", json={"name": "Pen", "price": 1.5, "stock": 3}).json()
            assert b.get(f"/products/{pen['id']}/adjust_stock", params={"delta": -1}).status_code == 200
            assert b.get(f"/blogposts/{post['id']}/publish").status_code == 200
            again = c.get(f"/blogposts/{post['id']}").json()
            got = c.get("/useranalytics/ada").json()
            assert got["last_activity"] in ("2026-03-04T10:06:07.123456Z", "2026-03-04T10:06:07.123456+00:00"), got
            assert again["created_at"] == post["created_at"] and again["published"] is True            # read back exactly
            assert again["updated_at"] > post["updated_at"]                                           # set by the change
            made = datetime.fromisoformat(post["created_at"])          # `datetime.now()` in New York, kept as an instant
            assert made.utcoffset() == timedelta(0) and abs(made - datetime.now(timezone.utc)) < timedelta(minutes=5), made
            assert c.get(f"/products/{pen['id']}").json()["stock"] == 2
            assert b.get("/useranalytics/ada/track_page_view", params={"page": "/"}).status_code == 200
            assert c.get("/useranalytics/ada").json()["page_views"] == 1
            assert c.post("/recentactivities", json={"user_id": "ada"}).status_code == 201
            assert '"total":3.0' in b.get("/shoppingcart/add_item", params={"product_id": "p", "quantity": 2, "price": 1.5}).text
            assert c.get("/recentactivity").status_code == 404 and c.get("/useranalytics/bob").status_code == 404
    finally: srv.stop()

def test_basetable_in_chromiums_forms_and_the_admin(tmp_path, browser):
    import re
    srv = served(tmp_path)
    get = lambda path: httpx.get(srv.url + path, headers=JSON, timeout=30).json()
    ctx = browser.new_context()
    try:
        page = ctx.new_page()
        page.goto(srv.url + "/products/new")              # what the record sets itself is not asked for
        assert [page.locator(f"#sm-product-form-{k}").count() for k in ("id", "created_at", "updated_at", "name")] == [0, 0, 0, 1]
        page.fill("#sm-product-form-name", "Pen"); page.fill("#sm-product-form-price", "1.5"); page.fill("#sm-product-form-stock", "3")
        page.get_by_role("button", name="Save").click()
        page.wait_for_url(re.compile(r".*/products/[0-9a-f-]{36}$"), timeout=20_000)
        key = page.url.rsplit("/", 1)[1]
        assert get(f"/products/{key}")["name"] == "Pen"

        page.goto(srv.url + "/blogposts/new")
        page.fill("#sm-blogpost-form-title", "Entities"); page.fill("#sm-blogpost-form-content", "All the way down.")
        page.get_by_role("button", name="Save").click()
        page.wait_for_url(re.compile(r".*/blogposts/[0-9a-f-]{36}$"), timeout=20_000)
        post = page.url.rsplit("/", 1)[1]
        before = get(f"/blogposts/{post}")
        page.goto(srv.url + f"/blogposts/{post}/edit")    # created_at shown, not editable; a title changed
        assert page.locator("#sm-blogpost-form-created_at").is_disabled()
        page.fill("#sm-blogpost-form-title", "Entities, again")
        page.get_by_role("button", name="Save").click()
        page.wait_for_url(f"**/blogposts/{post}", timeout=20_000)
        after = get(f"/blogposts/{post}")
        assert (after["title"], after["created_at"]) == ("Entities, again", before["created_at"]) and after["updated_at"] > before["updated_at"]

        page.goto(srv.url + "/useranalytics/new")         # a Redis record, its key and a datetime-local input
        page.fill("#sm-useranalytics-form-user_id", "ada"); page.fill("#sm-useranalytics-form-last_activity", "2026-03-04T05:06:07")
        page.get_by_role("button", name="Save").click()
        page.wait_for_url("**/useranalytics/ada", timeout=20_000)
        assert get("/useranalytics/ada")["last_activity"] in ("2026-03-04T10:06:07Z", "2026-03-04T10:06:07+00:00")   # New York time, in UTC
        page.goto(srv.url + "/useranalytics/ada/edit")     # shown as the server's local time, to the second, as it was typed
        assert page.locator("#sm-useranalytics-form-last_activity").input_value() == "2026-03-04T05:06:07"
        page.fill("#sm-useranalytics-form-page_views", "4")
        page.get_by_role("button", name="Save").click()
        page.wait_for_url("**/useranalytics/ada", timeout=20_000)
        assert get("/useranalytics/ada")["page_views"] == 4

        page.goto(srv.url + "/admin/product")              # the admin (this machine): BaseTable rows by UUID, deleted in bulk
        page.locator(f"[id='sm-product-{key}-pick']").check()
        page.once("dialog", lambda d: d.accept())
        page.get_by_role("button", name="Delete selected").click()
        page.wait_for_function("document.body.innerText.includes('No products')", timeout=20_000)
        assert httpx.get(f"{srv.url}/products/{key}", headers=JSON).status_code == 404
    finally:
        ctx.close()                                       # its live stream ends: the server stops at once
        srv.stop()

def test_a_migration_of_the_design_tables(tmp_path):
    root = project(tmp_path, app=False)                  # (an app made at import would make the tables itself)
    (root / "settings.ini").write_text(f"[starmodel]\napp = design_app\ndatabase_url = sqlite:///{tmp_path}/m.db\n")
    starmodel = Path(sys.executable).parent / "starmodel"
    r = subprocess.run([str(starmodel), "migrate", "-m", "design"], cwd=root, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "create table blogpost" in r.stdout and "create table product" in r.stdout, r
    revision = next((root / "migrations" / "versions").glob("*_design.py")).read_text()
    assert "sa.Column('id', sa.Uuid(), nullable=False)" in revision and "sa.DateTime(timezone=True), server_default" in revision
    again = subprocess.run([str(starmodel), "migrate"], cwd=root, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "no changes" in (again.stdout + again.stderr).lower(), again
