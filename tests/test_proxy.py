"The app behind a real jupyter-server-proxy under a path prefix: the browser reaches only the Jupyter port."
import subprocess, sys, time
import httpx, pytest
from starmodel_nb import Entity, event, create_app
from starmodel_nb.notebook import Frame, serve
from support import free_port

pytest.importorskip("jupyter_server_proxy", reason="jupyter-server-proxy is not installed (pip install -e '.[dev]')")

class Tickets(Entity):
    model_config = {"scope": "global"}
    sold: int = 0
    @event
    def sell(self): self.sold += 1

class Launch(Entity):
    model_config = {"scope": "global"}
    t: int = 3
    @event
    async def countdown(self):
        import asyncio
        self.t = 3
        while self.t > 0:
            await asyncio.sleep(0.4)
            self.t -= 1
            yield

class Basket(Entity):
    items: int = 0
    @event
    def add(self): self.items += 1

@pytest.fixture(scope="module")
def jupyter(tmp_path_factory):
    port = free_port()
    cmd = [sys.executable, "-m", "jupyter_server", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
           "--ServerApp.base_url=/user/me/", "--IdentityProvider.token=", "--ServerApp.password=",
           "--ServerApp.disable_check_xsrf=True", "--allow-root", f"--ServerApp.root_dir={tmp_path_factory.mktemp('jroot')}"]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            if httpx.get(url + "/user/me/api/status", timeout=1).status_code == 200: break
        except httpx.HTTPError: pass
        if p.poll() is not None: pytest.fail("jupyter server died: " + p.stderr.read().decode()[-2000:])
        time.sleep(0.1)
    else: pytest.fail("jupyter server did not start")
    yield url
    p.terminate(); p.wait(10)

@pytest.fixture
def app_srv(assets):
    srv = serve(create_app([Tickets, Launch, Basket], assets=assets, secret_key="proxy-tests"), name="proxy")
    yield srv
    srv.stop()

def offsite(page, jupyter, log):
    page.on("request", lambda r: None if r.url.startswith((jupyter, "data:")) else log.append(r.url))

def test_pages_events_and_stream_through_the_proxy(jupyter, app_srv, browser):
    base = f"{jupyter}/user/me/proxy/{app_srv.port}"
    ctx, log = browser.new_context(), []
    a, b = ctx.new_page(), browser.new_context().new_page()
    for p in (a, b): offsite(p, jupyter, log); p.goto(base + "/tickets")
    assert a.locator('meta[name="sm-root"]').get_attribute("content") == f"/user/me/proxy/{app_srv.port}"
    assert f"/user/me/proxy/{app_srv.port}/tickets/sell" in a.get_by_role("button", name="Sell").get_attribute("data-on:click")
    b.wait_for_timeout(500)
    for n in (1, 2, 3):
        a.get_by_role("button", name="Sell").click()
        t0 = time.monotonic()
        b.wait_for_function(f"document.getElementById('sm-tickets-sold').textContent.trim() === '{n}'", polling=50, timeout=2000)
        assert time.monotonic() - t0 < 1.0     # the live stream is not held back by the proxy
    assert log == []

def test_show_frame_through_the_proxy_keeps_the_session(jupyter, app_srv, browser, monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/me/")
    frame = Frame(app_srv.port, "/basket")
    assert frame.url == f"/user/me/proxy/{app_srv.port}/basket"
    page, log = browser.new_context().new_page(), []
    notebook = f"{jupyter}/user/me/lab/tree/demo.ipynb"
    page.route(notebook, lambda r: r.fulfill(content_type="text/html", body=f"<html><body>{frame.html}</body></html>"))
    offsite(page, jupyter, log)
    page.goto(notebook)
    inner = page.frame_locator("iframe")
    for _ in range(3): inner.get_by_role("button", name="Add").click()
    inner.locator("#sm-basket-items").filter(has_text="3").wait_for(timeout=3000)
    assert log == []

def test_streaming_event_arrives_step_by_step_through_the_proxy(jupyter, app_srv, browser):
    "jupyter-server-proxy streams only when Accept is exactly text/event-stream; otherwise every step arrives at the end."
    page = browser.new_context().new_page()
    page.goto(f"{jupyter}/user/me/proxy/{app_srv.port}/launch")
    page.evaluate("""() => { window.seen = []; const el = document.getElementById('sm-launch-t');
        new MutationObserver(() => window.seen.push([el.textContent.trim(), performance.now()])).observe(el, {childList: true, characterData: true, subtree: true}); }""")
    t0 = page.evaluate("performance.now()")
    page.get_by_role("button", name="Countdown").click()
    page.wait_for_function("window.seen.some(s => s[0] === '0')", polling=50, timeout=4000)
    seen = page.evaluate("window.seen")
    first = next((ms - t0 for v, ms in seen if v == "2"), None)
    last = next(ms - t0 for v, ms in seen if v == "0")
    assert first is not None, f"the first step was never shown on its own (buffered by the proxy?): {seen}"
    assert first < 800 and last - first > 600, seen      # '2' shows after one step, not with the last
