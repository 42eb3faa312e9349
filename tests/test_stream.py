"The live stream over real HTTP: delivery by channel, replay, disconnect clean-up, the connection cap."
import json, time
from itertools import islice
import httpx, pytest
from starmodel_nb import Entity, event, create_app
from support import wait_until

class Beacon(Entity):
    model_config = {"scope": "global"}
    level: int = 0
    @event
    def raise_(self): self.level += 1

class Notes(Entity):
    text: str = ""
    @event
    def write(self, text: str): self.text = text

DS = {"Datastar-Request": "true", "Accept": "text/event-stream"}

@pytest.fixture
def server(live_server):
    return live_server(create_app([Beacon, Notes], secret_key="stream-tests-secret-key-of-at-least-32-bytes", stream_cap=3, stream_heartbeat=0.2))

def sse(resp, timeout=30):
    "The data messages of an open SSE response, as they arrive; stops after `timeout` s (only a hang guard: heartbeats keep it reading)."
    buf, end = "", time.monotonic() + timeout
    for chunk in resp.iter_text():
        buf += chunk
        while "\n\n" in buf:
            block, buf = buf.split("\n\n", 1)
            data = [l[5:].strip() for l in block.splitlines() if l.startswith("data:")]
            if data: yield json.loads("\n".join(data))
        if time.monotonic() > end: return

def messages(resp, n): return list(islice(sse(resp), n))

def hub(server): return server.server.config.app.state.sm.hub

def test_stream_gets_global_and_own_session_changes_only(server):
    me, other = httpx.Client(base_url=server.url, headers=DS), httpx.Client(base_url=server.url, headers=DS)
    me.get("/notes"); other.get("/notes")          # each gets a session
    with me.stream("GET", "/_sm/stream") as r:
        assert r.status_code == 200 and r.headers["content-type"] == "text/event-stream"
        live = sse(r)
        assert next(live)["hello"] == 1                     # subscribed: what follows is live, not replayed
        other.get("/notes/write?text=theirs"); me.get("/notes/write?text=mine"); other.get("/beacon/raise_")
        got = list(islice(live, 2))
    assert [(m["ns"], m["signals"]) for m in got] == [("notes", {"notes": {"text": "mine"}}), ("beacon", {"beacon": {"level": 1}})]

def test_reconnect_replays_what_was_missed(server):
    c = httpx.Client(base_url=server.url, headers=DS)
    seq = hub(server).seq
    c.get("/beacon/raise_"); c.get("/beacon/raise_")
    with c.stream("GET", f"/_sm/stream?since={seq}&epoch={hub(server).epoch}") as r:
        got = messages(r, 3)
    assert [m["v"] for m in got[1:]] == [1, 2]
    with c.stream("GET", "/_sm/stream?since=2&epoch=another-server") as r:
        got = messages(r, 3)                  # a page of another epoch saw nothing of this server's: all is replayed
    assert got[0]["epoch"] == hub(server).epoch and [m["v"] for m in got[1:]] == [1, 2]

def test_disconnect_unsubscribes_and_cap_refuses(server):
    c = httpx.Client(base_url=server.url, headers=DS, timeout=5)
    streams = [c.stream("GET", "/_sm/stream") for _ in range(3)]
    opened = [s.__enter__() for s in streams]
    assert all(r.status_code == 200 for r in opened)
    assert hub(server).clients == 3                         # counted before the response starts
    r = c.get("/_sm/stream")
    assert r.status_code == 503 and "busy" in r.text
    for s in streams: s.__exit__(None, None, None)
    wait_until(lambda: hub(server).clients == 0, timeout=30, what=lambda: f"the server to notice the disconnects ({hub(server).clients} open)")
    with c.stream("GET", "/_sm/stream") as r: assert r.status_code == 200

def test_stream_refuses_foreign_requests(server):
    c = httpx.Client(base_url=server.url)
    assert c.get("/_sm/stream").status_code == 403
    assert c.get("/_sm/stream", headers={**DS, "Origin": "https://evil.example"}).status_code == 403
