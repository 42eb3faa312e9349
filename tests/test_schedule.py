"Scheduled events (`@every`): a clock ticks in the page; with several instances on Redis or Postgres, one runs the beat and another takes over when it stops."
import uuid
import pytest
from starmodel_nb import Entity, Field, create_app, every
from support import NO_PG, NO_REDIS, PG, REDIS, LiveServer, fresh_pg_database, stays, wait_until

class Clock(Entity):
    model_config = {"scope": "global"}
    ticks: int = 0
    @every(seconds=0.2)
    def tick(self): self.ticks += 1

def test_a_scheduled_clock_ticks_in_the_page(browser, assets):
    app = create_app([Clock], assets=assets, secret_key="schedule-browser-secret-key-of-32-bytes")
    with LiveServer(app) as srv:
        page = browser.new_page()
        page.goto(srv.url + "/clock")
        seen = set()
        for _ in range(3):   # three different values, each pushed by the server
            page.wait_for_function(f"!{sorted(seen)}.includes(+document.getElementById('sm-clock-ticks').textContent.trim())", polling=20, timeout=20_000)
            seen.add(int(page.locator("#sm-clock-ticks").inner_text()))
        assert app.history(Clock)[0].origin == "schedule"
    stays(lambda: app.instance(Clock).ticks, seconds=0.5, what="the clock's ticks once the app stopped")   # the beat (every 0.2 s) stops with the app

def beats(apps: list, until, timeout: float = 20) -> None:
    wait_until(until, timeout=timeout, what=lambda: f"the beats; runs: {[a.sm.scheduler.runs for a in apps]}")

class Beat(Entity, table=True):
    id: int | None = Field(default=None, primary_key=True)
    ticks: int = 0
    @every(seconds=0.2)
    def tick(self): self.ticks += 1

def one_runner(cls, key=None, **kw):
    "Two instances on one shared bus: only one runs the beat; when it stops, the other takes over."
    a, b = (create_app([cls], secret_key="schedule-shared-secret-key-of-32-bytes", **kw) for _ in range(2))
    if key is not None: a.create(cls)
    sa, sb = LiveServer(a), LiveServer(b)
    servers = [sa, sb]
    what = f"{cls.__name__.lower()}.tick"
    try:
        runs = lambda app: app.sm.scheduler.runs.get(what, 0)
        beats([a, b], lambda: runs(a) + runs(b) >= 10)
        assert min(runs(a), runs(b)) == 0, (runs(a), runs(b))     # one instance only
        first, other = (sa, b) if runs(a) else (sb, a)
        ticks = other.instance(cls, key).ticks
        assert 10 <= ticks <= runs(a) + runs(b) + 1               # a tick per beat, not two
        before = runs(other)
        first.stop(); servers.remove(first)                     # its lease is released: the other takes the beat at once
        beats([other], lambda: runs(other) >= before + 3, timeout=10)
    finally:
        for s in servers: s.stop()

@pytest.mark.skipif(not REDIS, reason=NO_REDIS)
def test_on_redis_one_instance_runs_the_beat():
    one_runner(Clock, redis_url=REDIS, bus="redis", memory_store="redis", app=f"s{uuid.uuid4().hex[:8]}")

@pytest.mark.skipif(not PG, reason=NO_PG)
def test_on_postgres_one_instance_runs_the_beat():
    with fresh_pg_database("sm_sched") as url:
        one_runner(Beat, 1, database_url=url, bus="postgres", app=f"s{uuid.uuid4().hex[:8]}")
