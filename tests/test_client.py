"""The browser client in real Chromium: refusals shown in the page, exact big numbers, a page whose Datastar did not load,
and a per-session page inside a frame of a non-http page (VS Code's notebook outputs)."""
import pytest
from starmodel_nb import Entity, event, create_app
from starmodel_nb.notebook import Frame
from support import stays

class Tab(Entity):
    n: int = 0
    @event
    def tick(self): self.n += 1
    @event
    def add(self, amount: int = 1): self.n += amount

class Ledger(Entity):
    model_config = {"scope": "global"}
    big: int = 2**53 + 1          # a JavaScript number would show 9007199254740992
    @event
    def bump(self): self.big += 1

@pytest.fixture
def server(live_server, assets):
    return live_server(create_app([Tab, Ledger], assets=assets, secret_key="client-tests-" + "k" * 32))

def errors_of(page):
    log = []
    page.on("pageerror", lambda e: log.append(f"pageerror: {e}"))
    return log

def until(page, js, timeout=15_000): page.wait_for_function(js, polling=50, timeout=timeout)   # a hang guard, not a measure

def count(page) -> str: return page.locator("#sm-tab-n").inner_text().strip()

def click_action(page, action: str):
    "Fire `action` from a button, as a hand-written component would."
    page.evaluate("""a => { const b = document.createElement('button'); b.id = 'hand'; b.textContent = 'hand';
                          b.setAttribute('data-on:click', a); document.querySelector('main').append(b); }""", action)
    page.locator("#hand").click()
    page.evaluate("document.getElementById('hand').remove()")

@pytest.mark.parametrize("action, message", [
    ("@get('/tab/add?amount=lots')", "amount: Input should be a valid integer"),        # 422
    ("@get('/tab/nothing')", "Not found."),                                            # 404
    ("@post('/tab/tick')", "tick takes GET."),                                         # 405
])
def test_a_refused_click_shows_its_message_and_throws_nothing(browser, server, action, message):
    page = browser.new_context().new_page(); log = errors_of(page)
    page.goto(server.url + "/tab")
    click_action(page, action)
    page.get_by_role("alert").filter(has_text=message).wait_for(timeout=15_000)
    page.get_by_role("button", name="Tick").click()                                    # the page still works
    until(page, "document.getElementById('sm-tab-n').textContent.trim() === '1'")
    assert stays(lambda: list(log), page=page, what="the page's errors") == [], log

def test_a_refusal_of_a_hand_written_fetch_is_shown(browser, server):
    page = browser.new_context().new_page(); log = errors_of(page)
    page.goto(server.url + "/tab")
    page.evaluate("fetch('/tab/tick?_x=1', {headers: {'Datastar-Request': 'true'}})")
    page.get_by_role("alert").filter(has_text="names starting with '_' are not accepted").wait_for(timeout=15_000)
    assert log == [], log

def test_a_big_int_is_shown_exactly(browser, server):
    page = browser.new_context().new_page(); log = errors_of(page)
    page.goto(server.url + "/ledger")
    until(page, "document.getElementById('sm-ledger-big').textContent.trim() === '9007199254740993'")
    page.get_by_role("button", name="Bump").click()
    until(page, "document.getElementById('sm-ledger-big').textContent.trim() === '9007199254740994'")
    assert log == [], log

def test_a_page_whose_datastar_did_not_load_says_so(browser, server):
    page = browser.new_context().new_page(); log = errors_of(page)
    page.route("**/_sm/assets/datastar.js?v=*", lambda r: r.abort())
    page.goto(server.url + "/tab")
    banner = page.get_by_role("alert").filter(has_text="starmodel assets pull")
    banner.wait_for(timeout=15_000)
    assert "Datastar client did not load" in banner.inner_text() and "datastar.js" in banner.inner_text()
    assert page.evaluate("document.documentElement.dataset.smDead") == "client" and log == [], log
    ok = browser.new_context().new_page(); ok.goto(server.url + "/tab")                 # a healthy page shows no banner
    ok.get_by_role("button", name="Tick").click()
    until(ok, "document.getElementById('sm-tab-n').textContent.trim() === '1'")
    told = lambda: (ok.get_by_role("alert").count(), ok.evaluate("document.documentElement.dataset.smDead"))
    assert stays(told, seconds=0.5, page=ok, what="the healthy page's alerts") == (0, None)   # its client checks itself 300 ms after load

def test_a_frame_in_a_file_page_keeps_its_session(browser, server, tmp_path):
    "VS Code shows outputs in a non-http page: the frame is cross-site to it, and a Lax cookie is withheld there."
    host = tmp_path / "output.html"
    host.write_text(f"<!doctype html><html><body>{Frame(server.port, '/tab').html}</body></html>")
    page = browser.new_context().new_page(); log = errors_of(page)
    page.goto(host.as_uri())
    frame = page.frame_locator("iframe")
    for i in range(1, 4):
        frame.get_by_role("button", name="Tick").click()
        frame.locator("#sm-tab-n").filter(has_text=str(i)).wait_for(timeout=15_000)
    page.reload()                                                                    # and the session outlives a reload
    page.frame_locator("iframe").locator("#sm-tab-n").filter(has_text="3").wait_for(timeout=15_000)
    assert log == [], log

def test_franken_scripts_load_only_for_a_page_that_has_what_they_drive(browser, server):
    "The generated page loads none of Franken UI's 600 KB of JavaScript; a `uk-*` element patched in later loads it, once."
    page = browser.new_context().new_page(); log = errors_of(page)
    asked = []
    page.on("request", lambda r: asked.append(r.url.split("?")[0].rsplit("/", 1)[1]) if "/franken-ui/" in r.url and ".js" in r.url else None)
    page.goto(server.url + "/tab")
    page.get_by_role("button", name="Tick").click()
    until(page, "document.getElementById('sm-tab-n').textContent.trim() === '1'")
    assert stays(lambda: list(asked), page=page, what="Franken UI's scripts asked for") == []
    page.evaluate("""() => { const d = document.createElement('div'); d.innerHTML = '<uk-icon icon="check"></uk-icon><span uk-tooltip="hi">t</span>';
                             document.querySelector('main').append(d); }""")
    until(page, "!!customElements.get('uk-icon') && !!document.querySelector('uk-icon svg')")   # the icon drawn
    page.evaluate("document.querySelector('main').insertAdjacentHTML('beforeend', '<uk-icon icon=\"x\"></uk-icon>')")
    until(page, "document.querySelectorAll('uk-icon svg').length === 2")
    assert sorted(asked) == ["core.iife.js", "icon.iife.js"] and log == [], (asked, log)
