"The generated interface in Chromium, offline: styled pages (screenshots), forms with server errors, live lists, admin, XSS."
from pathlib import Path
import pytest
from pydantic import field_validator
from starmodel_nb import Entity, Field, event, create_app
from support import stays

OUT = Path(__file__).resolve().parents[1] / "test-results" / "ui"
XSS = ['<script>window.__xss=1</script>', '"><img src=x onerror="window.__xss=1">', "';window.__xss=1;//",
       '<svg onload=window.__xss=1>', "javascript:window.__xss=1", "{{7*7}}${window.__xss=1}"]

class Crate(Entity, table=True):
    id: int | None = Field(default=None, primary_key=True)
    label: str = Field(min_length=2, description="No digits")
    weight: float = Field(default=1.0, ge=0)
    fragile: bool = False
    @event(method="post")
    def lighten(self, by: float = 0.5): self.weight = max(self.weight - by, 0)
    @field_validator("label")
    @classmethod
    def no_digits(cls, v):                                         # a rule only the server knows
        if any(c.isdigit() for c in v): raise ValueError("no digits, please")
        return v

class Tally(Entity):
    model_config = {"scope": "global"}
    note: str = ""
    n: int = 0
    @event
    def bump(self): self.n += 1
    @event
    def write(self, note: str): self.note = note

@pytest.fixture
def server(live_server, assets, tmp_path):
    return live_server(create_app([Crate, Tally], assets=assets, database_url=f"sqlite:///{tmp_path}/ui.db", secret_key="ui-secret-key-of-at-least-32-bytes",
                                  admin=True, theme="violet"))

def guard(page, log, dialogs=True):
    page.on("request", lambda r: None if r.url.startswith(("http://127.0.0.1", "data:", "blob:")) else log.append(f"offsite {r.url}"))
    page.on("console", lambda m: log.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: log.append(f"pageerror: {e}"))
    if dialogs: page.on("dialog", lambda d: (log.append(f"dialog: {d.message}"), d.dismiss()))

def settled(page):
    """Wait until `page` is drawn as it will stay: loaded, its fonts too, and Tailwind, when it compiles in the page
    (`css = browser`), done with its first build."""
    page.wait_for_function("""document.readyState === 'complete' && document.fonts.status === 'loaded' &&
        (!document.querySelector('script[src*="tailwind"]') || performance.getEntriesByType('measure').some(m => m.name.startsWith('Build #')))""",
                           polling=50, timeout=20_000)

def styled(page, sel):
    "Computed styles of the first `sel`, to compare with the browser's defaults."
    return page.locator(sel).first.evaluate("""e => { const s = getComputedStyle(e);
        return {bg: s.backgroundColor, radius: s.borderTopLeftRadius, pad: s.paddingLeft, color: s.color, border: s.borderTopColor, font: s.fontFamily}; }""")

def test_pages_are_styled_offline_and_screenshotted(browser, server):
    OUT.mkdir(parents=True, exist_ok=True)
    page, log = browser.new_context(viewport={"width": 1100, "height": 800}).new_page(), []
    guard(page, log)
    import httpx
    httpx.post(server.url + "/crates", json={"label": "Books", "weight": 3.5}, headers={"Accept": "application/json"})
    for name, path in [("entity", "/tally"), ("list", "/crates"), ("detail", "/crates/1"), ("new", "/crates/new"),
                       ("edit", "/crates/1/edit"), ("admin", "/admin"), ("admin-table", "/admin/crate"), ("home", "/")]:
        page.goto(server.url + path)
        settled(page)
        page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)
        if page.locator(".uk-btn").count():
            b = styled(page, ".uk-btn")
            assert b["radius"] != "0px" and b["pad"] not in ("6px", "1px") and b["font"] != "Times New Roman", (name, b)
        if page.locator("input.uk-input").count():
            i = styled(page, "input.uk-input")
            assert i["pad"] not in ("1px", "2px") and i["radius"] != "0px", (name, i)
    page.goto(server.url + "/tally")
    assert "uk-theme-violet" in page.evaluate("document.documentElement.className")
    assert log == []

def test_create_form_error_then_fix_appears_live_in_another_list(browser, server):
    lister, editor, log = browser.new_context().new_page(), browser.new_context().new_page(), []
    for p in (lister, editor): guard(p, log)
    lister.goto(server.url + "/crates")
    editor.goto(server.url + "/crates/new")
    editor.get_by_label("Label").fill("Box 9")                       # digits: refused by the server's pattern
    editor.get_by_label("Weight").fill("2.5")
    editor.get_by_role("button", name="Save").click()
    err = editor.locator("#sm-crate-form-label-error")
    err.wait_for(timeout=20_000)
    assert "no digits, please" in err.inner_text()
    assert editor.get_by_label("Label").input_value() == "Box 9" and editor.get_by_label("Weight").input_value() == "2.5"
    assert editor.get_by_label("Label").get_attribute("aria-invalid") == "true"
    editor.get_by_label("Label").fill("Boxes")
    editor.get_by_role("button", name="Save").click()
    editor.wait_for_url("**/crates/*", timeout=20_000)
    lister.locator("tbody tr").filter(has_text="Boxes").wait_for(timeout=20_000)
    editor.get_by_role("link", name="Edit").click()
    editor.get_by_label("Weight").fill("-1")                          # the browser itself refuses what the field's ge=0 says
    editor.get_by_role("button", name="Save").click()
    assert editor.get_by_label("Weight").evaluate("e => e.validity.rangeUnderflow") is True
    editor.get_by_label("Label").fill("Boxes 2")
    editor.get_by_label("Weight").fill("4")
    editor.get_by_role("button", name="Save").click()
    editor.locator("#sm-crate-form-label-error").wait_for(timeout=20_000)
    editor.get_by_label("Label").fill("Boxes")
    editor.get_by_label("Fragile").check()
    editor.get_by_role("button", name="Save").click()
    lister.locator("tbody tr").filter(has_text="4.0").wait_for(timeout=20_000)
    assert log == []

def test_keyboard_fires_events_and_every_input_has_a_label(browser, server):
    page, log = browser.new_context().new_page(), []
    guard(page, log)
    page.goto(server.url + "/tally")
    page.get_by_role("button", name="Bump").focus()
    page.keyboard.press("Enter")
    page.wait_for_function("document.getElementById('sm-tally-n').textContent.trim() === '1'", polling=50, timeout=20_000)
    page.get_by_label("Note").focus(); page.keyboard.type("typed"); page.keyboard.press("Enter")
    page.wait_for_function("document.getElementById('sm-tally-note').textContent.trim() === 'typed'", polling=50, timeout=20_000)
    for path in ("/tally", "/crates/new", "/crates", "/admin/crate"):
        page.goto(server.url + path)
        unlabeled = page.evaluate("""() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
            .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')).map(e => e.outerHTML)""")
        assert unlabeled == [], (path, unlabeled)
    assert log == []

def test_xss_polyglots_render_as_text_everywhere(browser, server):
    import httpx
    api = httpx.Client(base_url=server.url, headers={"Accept": "application/json"})
    ids = [api.post("/crates", json={"label": x.replace("0", "o").replace("7", "z").replace("1", "l")}).json()["id"] for x in XSS]
    page, watcher, log = browser.new_context().new_page(), browser.new_context().new_page(), []
    for p in (page, watcher): guard(p, log)
    watcher.goto(server.url + "/tally")
    for path in ["/crates", *[f"/crates/{i}" for i in ids], *[f"/crates/{i}/edit" for i in ids], "/admin/crate", "/admin"]:
        page.goto(server.url + path)
        ran = lambda: (page.evaluate("window.__xss"), page.locator("img[src=x], svg[onload]").count())
        assert stays(ran, page=page, what=f"what {path} ran or made") == (None, 0), path
    for x in XSS:                                                      # through events and the live stream (SSE patches)
        page.goto(server.url + "/tally")
        page.get_by_label("Note").fill(x); page.get_by_role("button", name="Write").click()
        watcher.wait_for_function("t => document.getElementById('sm-tally-note').textContent === t", arg=x, polling=50, timeout=20_000)
        for p in (page, watcher): assert p.evaluate("window.__xss") is None and p.locator("img[src=x], svg[onload]").count() == 0
    assert [l for l in log if "dialog" in l] == [] and log == []

def test_admin_follows_changes_and_bulk_deletes(browser, server):
    import httpx
    api = httpx.Client(base_url=server.url, headers={"Accept": "application/json"})
    for n in ("Alpha", "Beta", "Gamma"): api.post("/crates", json={"label": n})
    admin, log = browser.new_context().new_page(), []
    guard(admin, log, dialogs=False)
    admin.goto(server.url + "/admin/tally")
    assert "No live instances." in admin.content()
    httpx.get(server.url + "/tally/bump", headers={"Datastar-Request": "true"})          # a visitor's event
    admin.get_by_text("1 live instance").wait_for(timeout=20_000)
    admin.goto(server.url + "/admin/crate")
    crates = api.get("/crates").json()["items"]
    ids = {c["label"]: c["id"] for c in crates}
    for n in ("Alpha", "Gamma"): admin.get_by_label(f"Select crate {ids[n]}").check()
    admin.once("dialog", lambda d: d.accept())
    admin.get_by_role("button", name="Delete selected").click()
    admin.locator(f"#sm-crate-{ids['Alpha']}-row").wait_for(state="detached", timeout=20_000)
    assert [c["label"] for c in api.get("/crates").json()["items"]] == ["Beta"]
    api.post("/crates", json={"label": "Delta"})                                          # someone else creates one
    admin.locator("tbody tr").filter(has_text="Delta").wait_for(timeout=20_000)
    assert log == []

def test_dark_mode_offline(browser, live_server, assets, tmp_path):
    srv = live_server(create_app([Tally], assets=assets, secret_key="dark-secret-key-of-at-least-32-bytes", mode="dark", theme="zinc"))
    page, log = browser.new_context().new_page(), []
    guard(page, log)
    page.goto(srv.url + "/tally")
    settled(page)
    assert "dark" in page.evaluate("document.documentElement.className.split(' ')")
    bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
    rgb = [int(x) for x in bg[bg.index("(") + 1:bg.index(")")].split(",")[:3]]
    assert sum(rgb) < 150, bg                                                             # a dark page, not white
    OUT.mkdir(parents=True, exist_ok=True); page.screenshot(path=str(OUT / "entity-dark.png"))
    assert log == []

PAGES = [("entity", "/tally"), ("list", "/crates"), ("detail", "/crates/1"), ("new", "/crates/new"), ("edit", "/crates/1/edit"),
         ("admin", "/admin"), ("admin-table", "/admin/crate"), ("home", "/")]

def test_prebuilt_stylesheet_draws_what_the_browser_build_drew(browser, live_server, assets, tmp_path):
    """The pages styled by the stylesheet Tailwind's CLI built ahead (`css = auto`) and by Tailwind's browser build
    compiling in the page (`css = browser`): the same pixels, page by page, light and dark; and no compiler loaded."""
    import httpx
    from starmodel_nb.adapters.css import stylesheet
    assert stylesheet(assets).startswith("css/starmodel."), "no current prebuilt stylesheet in the assets folder"
    OUT.mkdir(parents=True, exist_ok=True)
    for mode in ("light", "dark"):
        shots = {}
        for css in ("browser", "auto"):
            srv = live_server(create_app([Crate, Tally], assets=assets, css=css, database_url=f"sqlite:///{tmp_path}/{mode}-{css}.db",
                                         secret_key="ui-secret-key-of-at-least-32-bytes", admin=True, theme="violet", mode=mode))
            httpx.post(srv.url + "/crates", json={"label": "Books", "weight": 3.5, "fragile": True}, headers={"Accept": "application/json"})
            page, log = browser.new_context(viewport={"width": 1100, "height": 800}).new_page(), []
            guard(page, log)
            for name, path in PAGES:
                page.goto(srv.url + path)
                settled(page)
                compiler = page.locator('script[src*="tailwind"]').count()
                assert compiler == (css == "browser"), (css, name, compiler)
                shots[css, name] = page.screenshot(full_page=True, animations="disabled", caret="hide")
            assert log == []
        differ = [name for name, _ in PAGES if shots["browser", name] != shots["auto", name]]
        for name in differ:
            for css in ("browser", "auto"): (OUT / f"{name}-{mode}-{css}.png").write_bytes(shots[css, name])
        assert differ == [], f"{mode}: the prebuilt stylesheet draws {differ} otherwise (screenshots in {OUT})"
