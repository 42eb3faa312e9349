"""Where plain `def` events run: measured (quick ones move from worker threads to the loop, a blocking one stays in
threads, one that stalls the loop goes back for good) or declared (`@event(thread=True/False)`)."""
import threading, time
from starlette.testclient import TestClient
from starmodel_nb import Entity, create_app, event
from starmodel_nb.app.binding import STALL, TRIAL

class Meter(Entity):
    model_config = {"scope": "global"}
    ran_in: int = 0
    loop: int = 0
    slow_now: bool = False
    @event
    async def mark_loop(self): self.loop = threading.get_ident()
    @event
    def quick(self): self.ran_in = threading.get_ident()
    @event
    def blocking(self):
        time.sleep(0.01)   # a call that waits on something: never quick
        self.ran_in = threading.get_ident()
    @event
    def usually(self):
        if self.slow_now: time.sleep(STALL * 2)
        self.ran_in = threading.get_ident()
    @event
    def stall(self): self.slow_now = True
    @event(thread=True)
    def declared_thread(self): self.ran_in = threading.get_ident()
    @event(thread=False)
    def declared_loop(self): self.ran_in = threading.get_ident()

def on_loop(c, app, name: str) -> bool:
    "Fire `name`, then say whether it ran on the app's loop thread."
    assert c.get(f"/meter/{name}", headers={"Datastar-Request": "true"}).status_code == 200
    m = app.instance(Meter)
    return m.ran_in == m.loop

def test_quick_def_events_move_to_the_loop_and_blocking_ones_stay_in_threads():
    app = create_app([Meter])
    with TestClient(app) as c:
        c.get("/meter/mark_loop", headers={"Datastar-Request": "true"})
        assert not on_loop(c, app, "quick")                              # the trial starts in a worker thread
        assert any(on_loop(c, app, "quick") for _ in range(20 * TRIAL))  # quick TRIAL times in a row: the loop
        assert not any(on_loop(c, app, "blocking") for _ in range(2 * TRIAL))
        assert (on_loop(c, app, "declared_thread"), on_loop(c, app, "declared_loop")) == (False, True)

def test_an_event_that_stalls_the_loop_goes_back_to_threads_for_good():
    app = create_app([Meter])
    with TestClient(app) as c:
        c.get("/meter/mark_loop", headers={"Datastar-Request": "true"})
        assert any(on_loop(c, app, "usually") for _ in range(20 * TRIAL))
        c.get("/meter/stall", headers={"Datastar-Request": "true"})
        assert on_loop(c, app, "usually")                                # trusted: this call stalls the loop...
        assert not any(on_loop(c, app, "usually") for _ in range(TRIAL + 2))   # ...and it never runs there again

def test_thread_is_declared_for_plain_def_events_only():
    import pytest
    with pytest.raises(ValueError, match="only for a plain `def`"):
        class Bad(Entity):
            @event(thread=True)
            async def nope(self): pass
    with pytest.raises(ValueError, match="thread is True or False"):
        class Worse(Entity):
            @event(thread="yes")
            def nope(self): pass
