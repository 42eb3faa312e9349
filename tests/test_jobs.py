"Background jobs in Chromium: a batch import shows its live progress in two pages, is cancelled from one, and keeps what it committed."
import asyncio, json, pytest
from starmodel_nb import Entity, event, create_app
from support import LiveServer, stays, wait_until

class Importer(Entity):
    model_config = {"scope": "global"}
    done: int = 0
    last: str = ""
    @event(background=True)
    async def process_batch(self, items: list[str]):
        for i, item in enumerate(items):
            await asyncio.sleep(0.05)
            self.done += 1; self.last = item
            yield f"Processed {i + 1}/{len(items)}"

@pytest.fixture
def server(live_server, assets):
    return live_server(create_app([Importer], assets=assets, secret_key="jobs-browser-secret-key-of-at-least-32-bytes"))

STATE = "document.querySelector('[data-sm-job=process_batch] [data-sm-job-state]')?.textContent.trim()"

def test_a_background_import_shows_progress_in_two_pages_and_is_cancelled_from_one(browser, server):
    app, log = server.server.config.app, []
    a, b = browser.new_context().new_page(), browser.new_context().new_page()
    for p in (a, b):
        p.on("pageerror", lambda e: log.append(str(e))); p.on("console", lambda m: log.append(m.text) if m.type == "error" else None)
        p.goto(server.url + "/importer")
    assert a.locator("[data-sm-job=process_batch]").is_hidden()                  # no job yet: nothing shown
    a.fill("[name=items]", json.dumps([f"row {i}" for i in range(200)]))
    a.get_by_role("button", name="Process batch").click()
    for p in (a, b):   # both pages follow it: running, a bar that moves, the note
        p.wait_for_function(f"{STATE} === 'running'", polling=50, timeout=20_000)
        p.wait_for_function("+document.querySelector('[data-sm-job=process_batch] progress').value > 0.02", polling=50, timeout=20_000)
        assert "Processed" in p.locator("[data-sm-job=process_batch] [data-sm-job-note]").inner_text()
    b.locator("[data-sm-job=process_batch]").get_by_role("button", name="Cancel").click()
    for p in (a, b): p.wait_for_function(f"{STATE} === 'cancelled'", polling=50, timeout=20_000)
    (job,) = app.jobs(Importer)
    assert job.state == "cancelled" and 0 < job.commits < 200
    kept = app.instance(Importer)
    assert kept.done == job.commits and kept.last == f"row {job.commits - 1}"   # its partial result is what it committed
    for p in (a, b): p.wait_for_function(f"document.getElementById('sm-importer-done').textContent.trim() === '{kept.done}'", polling=50, timeout=20_000)
    assert stays(lambda: app.instance(Importer).done, what="the importer's count once cancelled") == kept.done   # nothing ran on
    assert log == []

def test_the_admin_lists_jobs_and_cancels_one():
    from starlette.testclient import TestClient
    app = create_app([Importer], admin=True, secret_key="jobs-admin-secret-key-of-at-least-32-bytes")
    with TestClient(app, headers={"Datastar-Request": "true"}, client=("127.0.0.1", 50000), base_url="http://127.0.0.1:5001") as c:
        job = app.fire(Importer, "process_batch", items=[f"r{i}" for i in range(400)])
        wait_until(lambda: job.state == "running", what="the job to start")
        page = c.get("/admin").text
        assert f'data-sm-job-row="{job.id}"' in page and "process_batch" in page and "running" in page
        assert c.post(f"/admin/_jobs/{job.id}/cancel", headers={"Datastar-Request": ""}).status_code == 403   # not from a page of the app
        assert c.post("/admin/_jobs/0000000000000000/cancel").status_code == 404
        assert c.post(f"/admin/_jobs/{job.id}/cancel").status_code == 200
        assert app.wait(job).state == "cancelled" and app.instance(Importer).done == job.commits
        assert "cancelled" in c.get("/admin").text

class Flaky(Entity):
    model_config = {"scope": "global"}
    n: int = 0
    @event(background=True)
    async def crunch(self):
        for _ in range(3): await asyncio.sleep(0.05); self.n += 1; yield
        raise RuntimeError("the source went away")

def test_a_failing_job_shows_its_error_and_keeps_its_last_commit(browser, assets):
    app = create_app([Flaky], assets=assets, secret_key="jobs-browser-secret-key-of-at-least-32-bytes")
    with LiveServer(app) as srv:
        p = browser.new_page(); p.goto(srv.url + "/flaky")
        p.get_by_role("button", name="Crunch").click()
        panel = p.locator("[data-sm-job=crunch]")
        panel.get_by_role("alert").filter(has_text="Something went wrong (reference").wait_for(timeout=20_000)   # debug off: not its text
        assert panel.locator("[data-sm-job-state]").inner_text().strip() == "failed"
        assert app.instance(Flaky).n == 3
        p.wait_for_function("document.getElementById('sm-flaky-n').textContent.trim() === '3'", polling=50, timeout=20_000)

from support import NO_REDIS, REDIS

@pytest.mark.skipif(not REDIS, reason=NO_REDIS)
def test_a_job_on_one_instance_is_followed_and_cancelled_from_another():
    import httpx, threading, uuid
    ns = f"j{uuid.uuid4().hex[:8]}"
    a, b = (create_app([Importer], redis_url=REDIS, bus="redis", memory_store="redis", app=ns, secret_key="jobs-shared-secret-key-of-at-least-32-bytes")
            for _ in range(2))
    with LiveServer(a) as sa, LiveServer(b) as sb:
        seen, opened = [], threading.Event()
        def listen():   # a page's live stream, held by B
            with httpx.stream("GET", sb.url + "/_sm/stream", headers={"Accept": "text/event-stream", "Datastar-Request": "true"}, timeout=30) as r:
                for line in r.iter_lines():
                    if line.startswith("data: "): opened.set()                     # its hello: B holds the stream
                    if line.startswith("data: ") and '"job"' in line:
                        seen.append(json.loads(line[6:])["signals"]["importer"]["_jobs"]["process_batch"])
                        if seen[-1]["state"] in ("cancelled", "done", "failed"): return
        t = threading.Thread(target=listen, daemon=True); t.start()
        ready = lambda bus: bus._ready is not None and bus._ready.is_set()         # its reader knows where it reads from
        wait_until(lambda: opened.is_set() and ready(a.sm.bus) and ready(b.sm.bus), what="B's stream open and both buses reading")
        job = a.fire(Importer, "process_batch", items=[f"r{i}" for i in range(400)])   # runs on A
        wait_until(lambda: any(s["state"] == "running" and s["progress"] > 0 for s in seen), what="B's page to be told the job runs")
        assert [j.id for j in b.jobs(Importer)] == [job.id]                              # B lists A's job
        r = httpx.post(f"{sb.url}/_sm/jobs/{job.id}/cancel", headers={"Datastar-Request": "true", "Sec-Fetch-Site": "same-origin"})
        assert r.status_code == 200                                                       # asked of B ...
        assert a.wait(job, 30).state == "cancelled"                                       # ... done by A (long before its 20 s)
        t.join(20)
        assert seen[-1]["state"] == "cancelled" and seen[-1]["id"] == job.id             # and B's page was told
        assert a.instance(Importer).done == job.commits == b.instance(Importer).done

from starmodel_nb import Field

class Shipment(Entity, table=True):
    id: int | None = Field(default=None, primary_key=True)
    packed: int = 0
    @event(method="post", background=True)
    def pack(self, boxes: int = 3):
        for i in range(boxes): self.packed += 1; yield (i + 1, boxes)   # a sync generator: in a worker thread

def test_a_record_job_needs_its_record_and_runs_in_a_worker_thread(tmp_path):
    from starlette.testclient import TestClient
    app = create_app([Shipment], database_url=f"sqlite:///{tmp_path}/ship.db", secret_key="jobs-sql-secret-key-of-at-least-32-bytes")
    with TestClient(app, headers={"Datastar-Request": "true"}) as c:
        s = app.create(Shipment)
        r = c.post("/shipments/999/pack")
        assert r.status_code == 404 and "does not exist" in r.text and app.jobs() == []
        assert c.post(f"/shipments/{s.id}/pack?boxes=lots").status_code == 422
        assert c.post(f"/shipments/{s.id}/pack?boxes=4").status_code == 200
        (job,) = app.jobs(Shipment, s.id)
        assert app.wait(job).state == "done" and job.note == "4/4"
        assert app.instance(Shipment, s.id).packed == 4 and [h.event for h in app.history(Shipment, s.id)][-4:] == ["pack"] * 4
