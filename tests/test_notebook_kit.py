"The notebook kit outside a kernel: serve/stop/swap, port errors, startup errors, frames on another localhost port."
import socket, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import httpx, pytest
from starmodel_nb import Entity, event, create_app
from starmodel_nb.notebook import Frame, ServeError, serve
from support import free_port, wait_until

class Lantern(Entity):
    model_config = {"scope": "global"}
    lit: int = 0
    @event
    def light(self): self.lit += 1

class Diary(Entity):
    pages: int = 0
    @event
    def write(self): self.pages += 1

DS = {"Datastar-Request": "true", "Accept": "text/event-stream"}
WAIT = 30_000   # ms: only a hang guard, a passing wait returns as soon as the page shows the value

@pytest.fixture
def app(assets): return create_app([Lantern, Diary], assets=assets, secret_key="kit-tests-secret-key-of-at-least-32-bytes")

def port_free(port):
    "Can a new server listen on `port` (as serve() would, with SO_REUSEADDR: old connections may linger in TIME_WAIT)?"
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try: s.bind(("127.0.0.1", port)); s.listen(1); return True
        except OSError: return False

def serve_threads() -> set: return {t for t in threading.enumerate() if t.name.startswith("starmodel-serve-")}

def test_serve_answers_and_stop_frees_the_port(app):
    srv = serve(app, name="t-basic")
    assert httpx.get(srv.url + "/lantern").status_code == 200           # serve() returns once the server answers
    assert httpx.get(f"http://[::1]:{srv.port}/lantern").status_code == 200   # localhost may resolve to ::1
    srv.stop()
    assert port_free(srv.port)

def test_port_taken_is_a_clear_error(app):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); s.listen(1)
        before = serve_threads()
        with pytest.raises(ServeError, match=f"port {s.getsockname()[1]} on 127.0.0.1 is taken"):
            serve(app, port=s.getsockname()[1], name="t-taken")
        assert serve_threads() <= before                                   # refused at bind: no server was started and waited for

def test_startup_failure_is_reported_not_hung():
    async def bad(scope, receive, send):
        if scope["type"] == "lifespan":
            await receive()
            await send({"type": "lifespan.startup.failed", "message": "no database"})
    before = serve_threads()
    with pytest.raises(ServeError, match="failed to start.*no database") as e:
        serve(bad, name="t-bad")
    assert "timed out" not in str(e.value) and serve_threads() <= before   # reported when the server stopped, not at a deadline

def test_stop_with_50_open_streams_ends_them(app):
    "stop() ends the open streams itself, so the server need not wait them out and cut them (uvicorn's graceful timeout)."
    srv = serve(app, name="t-streams")
    clients, opened = [], []
    for _ in range(50):
        c = httpx.Client(base_url=srv.url, headers=DS, timeout=30)    # 30 s: only a hang guard
        cm = c.stream("GET", "/_sm/stream"); opened.append(cm.__enter__()); clients.append((c, cm))
    assert all(r.status_code == 200 for r in opened) and app.state.sm.hub.clients == 50
    srv.stop()
    for r in opened: r.read()       # each ends with its last chunk; one that stop() left open is cut or hangs, and this raises
    assert app.state.sm.hub.clients == 0 and port_free(srv.port)
    again = serve(app, port=srv.port, name="t-streams")
    assert httpx.get(again.url + "/lantern").status_code == 200
    again.stop()
    for c, cm in clients:
        try: cm.__exit__(None, None, None)
        except Exception: pass

def test_two_apps_at_once_and_swap_keeps_state(app):
    one, two = serve(app, name="t-one"), serve(create_app([Lantern], secret_key="kit-tests-secret-key-of-at-least-32-bytes"), name="t-two")
    try:
        assert one.port != two.port
        httpx.get(one.url + "/lantern/light", headers=DS)
        class Lantern2(Entity):
            model_config = {"scope": "global", "slug": "lantern", "abstract": True}   # not registered: served explicitly
            lit: int = 0
            @event
            def light(self): self.lit += 10
        again = serve(create_app([Lantern2, Diary], secret_key="kit-tests-secret-key-of-at-least-32-bytes"), name="t-one")
        assert again is one
        r = httpx.get(one.url + "/lantern/light", headers=DS)
        assert '{"lantern":{"lit":11}}' in r.text          # the old instance, the new code
        assert "&quot;lit&quot;: 0" in httpx.get(two.url + "/lantern").text   # the other app has its own
    finally: one.stop(); two.stop()

class _Host(BaseHTTPRequestHandler):
    body = b""
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Type", "text/html"); self.end_headers(); self.wfile.write(self.body)
    def log_message(self, *a): pass

def test_frame_on_another_localhost_port_keeps_its_session(app, browser):
    srv = serve(app, name="t-frame")
    host = ThreadingHTTPServer(("127.0.0.1", free_port()), type("H", (_Host,), {"body": f"<html><body><h1>notebook</h1>{Frame(srv.port, '/diary').html}</body></html>".encode()}))
    threading.Thread(target=host.serve_forever, daemon=True).start()
    try:
        page = browser.new_context().new_page()
        page.goto(f"http://localhost:{host.server_address[1]}/")
        frame = page.frame_locator("iframe")
        for _ in range(3): frame.get_by_role("button", name="Write").click()
        frame.locator("#sm-diary-pages").filter(has_text="3").wait_for(timeout=WAIT)
        src = page.locator("iframe").get_attribute("src")
        assert src == f"http://localhost:{srv.port}/diary"
        assert page.locator("iframe").evaluate("f => parseInt(f.style.height)") > 150   # sized to its content
    finally: host.shutdown(); srv.stop()

def test_reserve_with_open_pages(app, browser, assets):
    srv = serve(app, name="t-reserve")
    try:
        ctx = browser.new_context()
        a, b = ctx.new_page(), ctx.new_page()
        for p in (a, b): p.goto(srv.url + "/lantern")
        a.get_by_role("button", name="Light").click()
        b.wait_for_function("document.getElementById('sm-lantern-lit').textContent.trim() === '1'", polling=50, timeout=WAIT)
        class Lantern3(Entity):
            model_config = {"scope": "global", "slug": "lantern", "abstract": True}
            lit: int = 0
            @event
            def light(self): self.lit += 10
        serve(create_app([Lantern3, Diary], assets=assets, secret_key="kit-tests-secret-key-of-at-least-32-bytes"), name="t-reserve")
        a.bring_to_front(); a.get_by_role("button", name="Light").click()
        a.wait_for_function("document.getElementById('sm-lantern-lit').textContent.trim() === '11'", polling=50, timeout=WAIT)
        b.wait_for_function("document.getElementById('sm-lantern-lit').textContent.trim() === '11'", polling=50, timeout=WAIT)
    finally: srv.stop()

def _first_change(url: str, got: list, ready: threading.Event) -> None:
    "Open a live stream on `url` and keep its first message after the hello (a change), in `got`."
    with httpx.stream("GET", url + "/_sm/stream", headers=DS, timeout=30) as r:
        for line in r.iter_lines():
            if line.startswith("data: "):
                if '"hello"' in line: ready.set(); continue
                got.append(line); return

def test_served_stopped_and_served_again_stays_live(app, caplog):
    "The same app object, served three times in turn: each round's open page hears a change; inspect() outside a kernel stays quiet."
    from starmodel_nb.notebook import inspect
    view = None
    for round_ in range(3):
        srv = serve(app, name="t-again")
        view = view or inspect(Lantern, app=app)
        got, ready = [], threading.Event()
        t = threading.Thread(target=_first_change, args=(srv.url, got, ready), daemon=True)
        t.start()
        assert ready.wait(30), f"round {round_}: no hello"
        app.fire(Lantern, "light")
        t.join(30)
        assert got and f'"lit": {round_ + 1}' in got[0].replace('"lit":', '"lit": ').replace("  ", " "), (round_, got)
        srv.stop()
    wait_until(lambda: "Lantern</b>: 1 live instance" in view.count.value, what="the view to follow every round")
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")], [r.getMessage() for r in caplog.records]
