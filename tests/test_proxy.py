"The app behind a real jupyter-server-proxy under a path prefix: the browser reaches only the Jupyter port."
import asyncio, subprocess, sys, threading
import httpx, pytest
from starmodel_nb import Entity, event, create_app
from starmodel_nb.notebook import Frame, serve
from support import free_port, wait_until

pytest.importorskip("jupyter_server_proxy", reason="jupyter-server-proxy is not installed (pip install -e '.[dev]')")

class Tickets(Entity):
    model_config = {"scope": "global"}
    sold: int = 0
    @event
    def sell(self): self.sold += 1

WAIT = 30_000                  # ms: only a hang guard, a passing wait returns as soon as the page shows the value
STEP = threading.Semaphore(0)  # the test lets the countdown take each step: it sets the pace, not a clock

class Launch(Entity):
    model_config = {"scope": "global"}
    t: int = 3
    @event
    async def countdown(self):
        self.t = 3
        while self.t > 0:
            await asyncio.to_thread(STEP.acquire, timeout=30)
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
    def answers():
        if p.poll() is not None: pytest.fail("jupyter server died: " + p.stderr.read().decode()[-2000:])
        return httpx.get(url + "/user/me/api/status", timeout=5).status_code == 200
    try: wait_until(answers, timeout=120, every=0.05, ignore=httpx.HTTPError, what="the jupyter server to start")
    except AssertionError: p.kill(); raise
    yield url
    p.terminate(); p.wait(10)

@pytest.fixture
def app_srv(assets):
    srv = serve(create_app([Tickets, Launch, Basket], assets=assets, secret_key="proxy-tests-secret-key-of-at-least-32-bytes"), name="proxy")
    yield srv
    srv.stop()

def offsite(page, jupyter, log):
    page.on("request", lambda r: None if r.url.startswith((jupyter, "data:")) else log.append(r.url))

def test_pages_events_and_stream_through_the_proxy(jupyter, app_srv, browser):
    base = f"{jupyter}/user/me/proxy/{app_srv.port}"
    ctx, log, streams = browser.new_context(), [], []
    a, b = ctx.new_page(), browser.new_context().new_page()
    b.on("request", lambda r: streams.append(r.url) if "/_sm/stream" in r.url else None)
    offsite(a, jupyter, log); a.goto(base + "/tickets")
    offsite(b, jupyter, log)
    with b.expect_response(lambda r: "/_sm/stream" in r.url, timeout=WAIT): b.goto(base + "/tickets")   # b's stream is open
    assert a.locator('meta[name="sm-root"]').get_attribute("content") == f"/user/me/proxy/{app_srv.port}"
    assert f"/user/me/proxy/{app_srv.port}/tickets/sell" in a.get_by_role("button", name="Sell").get_attribute("data-on:click")
    for n in (1, 2, 3):
        a.get_by_role("button", name="Sell").click()
        b.wait_for_function(f"document.getElementById('sm-tickets-sold').textContent.trim() === '{n}'", polling=50, timeout=WAIT)
    assert len(streams) == 1, streams   # every sale came over the one stream b opened, while open: the proxy does not hold it back
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
    inner.locator("#sm-basket-items").filter(has_text="3").wait_for(timeout=WAIT)
    assert log == []

def test_streaming_event_arrives_step_by_step_through_the_proxy(jupyter, app_srv, browser):
    "jupyter-server-proxy streams only when Accept is exactly text/event-stream; otherwise every step arrives at the end."
    page = browser.new_context().new_page()
    page.goto(f"{jupyter}/user/me/proxy/{app_srv.port}/launch")
    page.evaluate("""() => { window.seen = []; const el = document.getElementById('sm-launch-t');
        new MutationObserver(() => window.seen.push(el.textContent.trim())).observe(el, {childList: true, characterData: true, subtree: true}); }""")
    page.get_by_role("button", name="Countdown").click()
    for n in ("2", "1", "0"):
        STEP.release()   # one step; the next waits for the page to show this one: arrival while the response is still open
        page.wait_for_function(f"window.seen.includes('{n}')", polling=50, timeout=WAIT)
    seen = page.evaluate("window.seen")
    assert [v for v in dict.fromkeys(seen) if v in ("2", "1", "0")] == ["2", "1", "0"], seen
