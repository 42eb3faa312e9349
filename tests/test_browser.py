"Real Chromium against a live server: live updates across pages, session isolation, many tabs and frames."
import pytest
from starmodel_nb import Entity, event, create_app
from support import stays, wait_until

class Scoreboard(Entity):
    model_config = {"scope": "global"}
    score: int = 0
    @event
    def point(self): self.score += 1

class Mine(Entity):
    n: int = 0
    @event
    def tick(self): self.n += 1
    @event
    def add(self, amount: int = 1):
        if amount > 100: raise ValueError("At most 100 at a time.")
        self.n += amount

@pytest.fixture
def server(live_server, assets):
    return live_server(create_app([Scoreboard, Mine], assets=assets, secret_key="browser-tests-secret-key-of-at-least-32-bytes"))

def streams(server) -> int: return server.server.config.app.state.sm.hub.clients   # live streams open on the server

def watch_offsite(page, log):
    page.on("request", lambda r: None if r.url.startswith(("http://127.0.0.1", "data:", "blob:")) else log.append(r.url))
    page.on("console", lambda m: log.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: log.append(f"pageerror: {e}"))

def text(page, sel): return page.locator(sel).inner_text().strip()

def test_global_counter_updates_the_other_pages(browser, server):
    ctx = browser.new_context()
    a, b, log = ctx.new_page(), ctx.new_page(), []
    for p in (a, b): watch_offsite(p, log); p.goto(server.url + "/scoreboard")
    wait_until(lambda: streams(server) == 1, what="the browser's live stream")
    a.get_by_role("button", name="Point").click()
    a.wait_for_function("document.getElementById('sm-scoreboard-score').textContent.trim() === '1'", polling=50, timeout=20_000)
    b.wait_for_function("document.getElementById('sm-scoreboard-score').textContent.trim() === '1'", polling=50, timeout=20_000)
    # and the other way round, from a second browser (another cookie jar, hence its own stream)
    other = browser.new_context().new_page(); watch_offsite(other, log)
    other.goto(server.url + "/scoreboard")
    wait_until(lambda: streams(server) == 2, what="the second browser's live stream")
    other.get_by_role("button", name="Point").click()
    for p in (a, b): p.wait_for_function("document.getElementById('sm-scoreboard-score').textContent.trim() === '2'", polling=50, timeout=20_000)
    assert log == []

def test_session_counters_stay_isolated(browser, server):
    c1, c2 = browser.new_context(), browser.new_context()
    p1, p2 = c1.new_page(), c2.new_page()
    for p in (p1, p2): p.goto(server.url + "/mine")
    for _ in range(3): p1.get_by_role("button", name="Tick").click()
    p1.wait_for_function("document.getElementById('sm-mine-n').textContent.trim() === '3'", polling=50, timeout=20_000)
    p2.get_by_role("button", name="Tick").click()
    p2.wait_for_function("document.getElementById('sm-mine-n').textContent.trim() === '1'", polling=50, timeout=20_000)
    assert stays(lambda: (text(p1, "#sm-mine-n"), text(p2, "#sm-mine-n")), page=p1, what="the two sessions' counts") == ("3", "1")
    # a second tab of the first browser shares its session and follows it live
    p1b = c1.new_page(); p1b.goto(server.url + "/mine")
    assert text(p1b, "#sm-mine-n") == "3"
    p1.fill("#sm-mine-add-amount", "5"); p1.get_by_role("button", name="Add").click()
    p1b.wait_for_function("document.getElementById('sm-mine-n').textContent.trim() === '8'", polling=50, timeout=20_000)
    assert text(p2, "#sm-mine-n") == "1"

def test_ten_pages_and_frames_share_one_stream(browser, server):
    ctx = browser.new_context()
    tabs = [ctx.new_page() for _ in range(5)]
    for t in tabs: t.goto(server.url + "/scoreboard")
    host = ctx.new_page()
    frames = "".join(f'<iframe src="{server.url}/scoreboard" style="width:600px;height:300px"></iframe>' for _ in range(5))
    host.route(server.url + "/_frames", lambda r: r.fulfill(content_type="text/html", body=f"<html><body>{frames}</body></html>"))
    host.goto(server.url + "/_frames")
    views = tabs + [f for f in host.frames if f.url.endswith("/scoreboard")]
    assert len(views) == 10
    for v in views: v.wait_for_selector("#sm-scoreboard-score")
    wait_until(lambda: streams(server) == 1, what="the browser's live stream")
    start = int(text(views[0], "#sm-scoreboard-score"))
    for i, v in enumerate(views, 1):
        (v if i <= 5 else host).bring_to_front()   # a person clicks in the tab in front
        v.locator("button", has_text="Point").click()
        v.wait_for_function(f"document.getElementById('sm-scoreboard-score').textContent.trim() === '{start + i}'", polling=50, timeout=20_000)
    for v in views: v.wait_for_function(f"document.getElementById('sm-scoreboard-score').textContent.trim() === '{start + 10}'", polling=50, timeout=20_000)
    assert server.server.servers and ctx  # server still up
    assert server.server.config.app.state.sm.hub.clients <= 1 + 0  # one stream for the whole browser


def wait_score(page, n, timeout=20_000):
    page.wait_for_function(f"document.getElementById('sm-scoreboard-score').textContent.trim() === '{n}'", polling=50, timeout=timeout)

def test_stream_moves_to_another_page_when_its_holder_closes(browser, server):
    ctx = browser.new_context()
    pages = [ctx.new_page() for _ in range(3)]
    pages[0].goto(server.url + "/scoreboard")
    wait_until(lambda: streams(server) == 1, what="the first page's live stream")
    for p in pages[1:]: p.goto(server.url + "/scoreboard")
    hub = server.server.config.app.state.sm.hub
    start = int(text(pages[0], "#sm-scoreboard-score"))
    pages[0].close()  # the first page opened holds the lock and the stream
    outsider = browser.new_context().new_page()
    outsider.goto(server.url + "/scoreboard")
    wait_until(lambda: hub.clients == 2, what="a live stream for each browser")
    outsider.get_by_role("button", name="Point").click()
    for p in pages[1:]: wait_score(p, start + 1, timeout=20_000)
    pages[1].bring_to_front(); pages[1].get_by_role("button", name="Point").click()
    wait_score(pages[2], start + 2); wait_score(outsider, start + 2)
    assert hub.clients == 2  # one per browser context

def test_errors_show_in_the_page_and_change_nothing(browser, server):
    page, log = browser.new_context().new_page(), []
    watch_offsite(page, log)
    page.goto(server.url + "/mine")
    page.fill("#sm-mine-add-amount", "500"); page.get_by_role("button", name="Add").click()
    page.get_by_role("alert").filter(has_text="At most 100 at a time.").wait_for(timeout=20_000)
    assert text(page, "#sm-mine-n") == "0"
    page.evaluate("fetch('/mine/add?amount=lots', {headers: {'Datastar-Request': 'true'}})")
    page.get_by_role("alert").filter(has_text="amount: Input should be a valid integer").wait_for(timeout=20_000)
    page.get_by_role("button", name="Tick").click()
    page.wait_for_function("document.getElementById('sm-mine-n').textContent.trim() === '1'", polling=50, timeout=20_000)
    assert [l for l in log if "422" not in l] == []

from starmodel_nb import Field

class Shelf(Entity, table=True):
    id: int | None = Field(default=None, primary_key=True)
    title: str
    copies: int = Field(default=1, ge=0)
    @event(method="post")
    def lend(self):
        if self.copies == 0: raise ValueError("None left to lend.")
        self.copies -= 1

@pytest.fixture
def sql_server(live_server, assets, tmp_path):
    return live_server(create_app([Shelf], assets=assets, database_url=f"sqlite:///{tmp_path}/shelf.db",
                                  secret_key="browser-sql-secret-key-of-at-least-32-bytes"))

def test_lists_and_records_update_live(browser, sql_server):
    url, log = sql_server.url, []
    lister, editor, viewer = (browser.new_context().new_page() for _ in range(3))
    for p in (lister, editor, viewer): watch_offsite(p, log)
    lister.goto(url + "/shelves")
    assert "No shelves yet." in lister.content()
    editor.goto(url + "/shelves/new")
    editor.fill("#sm-shelf-form-title", "Dune"); editor.fill("#sm-shelf-form-copies", "2")
    editor.get_by_role("button", name="Save").click()
    editor.wait_for_url("**/shelves/1", timeout=20_000)
    lister.locator("#sm-shelf-1-row").filter(has_text="Dune").wait_for(timeout=20_000)     # created: the open list shows it
    viewer.goto(url + "/shelves/1")
    editor.get_by_role("button", name="Lend").click()
    viewer.wait_for_function("document.getElementById('sm-shelf-1-copies').textContent.trim() === '1'", polling=50, timeout=20_000)
    lister.locator("#sm-shelf-1-row").filter(has_text="1").wait_for(timeout=20_000)
    editor.get_by_role("button", name="Lend").click()
    editor.get_by_role("button", name="Lend").click()
    editor.get_by_role("alert").filter(has_text="None left to lend.").wait_for(timeout=20_000)
    editor.once("dialog", lambda d: d.accept())
    editor.get_by_role("button", name="Delete").click()
    editor.wait_for_url("**/shelves", timeout=20_000)
    lister.locator("#sm-shelf-1-row").wait_for(state="detached", timeout=20_000)          # deleted: gone from the list
    viewer.get_by_text("This record was deleted.").wait_for(timeout=20_000)
    assert [l for l in log if "422" not in l] == []
