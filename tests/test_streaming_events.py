"Streaming events on a live server: a page that goes away mid-stream closes the generator (its `finally` runs) and what it committed stays."
import asyncio, socket, threading, time
import pytest
from starmodel_nb import Entity, event, create_app
from support import LiveServer, stays, wait_until

ended: list = []

class Loader(Entity):
    model_config = {"scope": "global"}
    done: int = 0
    @event
    async def run_async(self, n: int = 200):
        try:
            for _ in range(n):
                await asyncio.sleep(0.02); self.done += 1
                yield f"{self.done}/{n}"
        finally: ended.append(("async", self.done))
    @event
    def run_sync(self, n: int = 200):
        try:
            for _ in range(n):
                time.sleep(0.02); self.done += 1
                yield f"{self.done}/{n}"
        finally: ended.append(("sync", self.done, threading.current_thread() is threading.main_thread()))

def read_then_leave(port: int, path: str, chunks: int) -> bytes:
    "Open the event's stream like a page, read until `chunks` patches have come, and hang up."
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nDatastar-Request: true\r\nSec-Fetch-Site: same-origin\r\n"
              f"Accept: text/event-stream\r\n\r\n".encode())
    got = b""
    while got.count(b"event: datastar-patch-signals") < chunks: got += s.recv(65536)
    s.close()
    return got

@pytest.mark.parametrize("kind", ["async", "sync"])
def test_a_page_gone_mid_stream_closes_the_generator_and_keeps_its_commits(kind):
    ended.clear()
    app = create_app([Loader], secret_key="streaming-secret-key-of-at-least-32-bytes")
    with LiveServer(app) as srv:
        got = read_then_leave(srv.port, f"/loader/run_{kind}?n=200", 5)
        assert b"200 OK" in got.split(b"\r\n")[0]
        wait_until(lambda: ended, what="the generator's `finally`")
        assert ended[0][0] == kind, ended                      # its `finally` ran, once the page went away
        if kind == "sync": assert ended[0][2] is False         # in the worker thread it ran in
        kept = stays(lambda: app.instance(Loader).done, what="the loader's count once the page left")   # nothing runs on
        assert 5 <= kept < 200                                 # what it committed by its yields stays
        assert kept in (ended[0][1], ended[0][1] - 1)          # all but the step it was on when the page left
        rows = app.history(Loader)
        assert len(rows) == kept and rows[0].event == f"run_{kind}"   # each yield: a commit, recorded
