"Browser-kept entities in Chromium: CLIENT_LOCAL survives a reload and follows in a second tab; a tampered value is a 422 that changes nothing; CLIENT_SESSION is one tab's; the server keeps nothing."
import json
from typing import Literal
import pytest
from starmodel_nb import Entity, Field, StateStore, event, create_app
from starmodel_nb.adapters.persistence.client import KeptInBrowser

class Prefs(Entity):
    model_config = {"store": StateStore.CLIENT_LOCAL}
    theme: Literal["light", "dark"] = "light"
    size: int = Field(default=14, ge=8, le=32)
    @event
    def toggle(self): self.theme = "dark" if self.theme == "light" else "light"
    @event
    def bigger(self): self.size += 2

class Draft(Entity):
    model_config = {"store": StateStore.CLIENT_SESSION}
    words: int = 0
    @event
    def write(self): self.words += 10

@pytest.fixture
def server(live_server, assets):
    return live_server(create_app([Prefs, Draft], assets=assets, secret_key="client-store-secret-key-of-32-bytes"))

def shows(page, field, value, ns="prefs"):
    page.wait_for_function(f"document.getElementById('sm-{ns}-{field}')?.textContent.trim() === {json.dumps(str(value))}", polling=50, timeout=20_000)

def test_client_local_survives_a_reload_follows_in_another_tab_and_refuses_a_tampered_value(browser, server):
    ctx, log, codes = browser.new_context(), [], []
    a = ctx.new_page()
    a.on("pageerror", lambda e: log.append(str(e)))
    a.on("response", lambda r: codes.append(r.status) if "/prefs/" in r.url else None)
    a.goto(server.url + "/prefs")
    shows(a, "theme", "light")
    a.get_by_role("button", name="Toggle").click()
    shows(a, "theme", "dark")
    a.reload(); shows(a, "theme", "dark")                                   # kept in localStorage
    b = ctx.new_page(); b.goto(server.url + "/prefs"); shows(b, "theme", "dark")
    a.get_by_role("button", name="Bigger").click()
    shows(a, "size", 16); shows(b, "size", 16)                               # the other tab follows
    app = server.server.config.app
    assert app.instances(Prefs) == []                                        # the server keeps nothing
    with pytest.raises(KeptInBrowser, match="kept in each browser"):
        with app.edit(Prefs, "anyone") as p: p.size = 20
    # tampered: the stored size is no longer a valid one
    a.evaluate("localStorage.setItem('starmodel:/:prefs', JSON.stringify({theme: 'dark', size: 99}))")
    a.reload(); shows(a, "size", 99)
    codes.clear()
    a.get_by_role("button", name="Bigger").click()
    a.get_by_role("alert").filter(has_text="size").wait_for(timeout=20_000)
    assert codes == [422]
    assert json.loads(a.evaluate("localStorage.getItem('starmodel:/:prefs')")) == {"theme": "dark", "size": 99}   # nothing changed
    shows(a, "size", 99)
    assert log == []

def test_client_session_is_one_tabs_own(browser, server):
    ctx = browser.new_context()
    a = ctx.new_page(); a.goto(server.url + "/draft")
    a.get_by_role("button", name="Write").click(); shows(a, "words", 10, "draft")
    a.reload(); shows(a, "words", 10, "draft")                               # the tab's sessionStorage
    b = ctx.new_page(); b.goto(server.url + "/draft"); shows(b, "words", 0, "draft")   # a new tab starts afresh
    b.get_by_role("button", name="Write").click(); shows(b, "words", 10, "draft")
    a.get_by_role("button", name="Write").click(); shows(a, "words", 20, "draft")
