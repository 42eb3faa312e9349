"Background jobs in Chromium: a batch import shows its live progress in two pages, is cancelled from one, and keeps what it committed."
import asyncio, json, pytest
from starmodel_nb import Entity, event, create_app
from support import LiveServer

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
def server(assets):
    app = create_app([Importer], assets=assets, secret_key="jobs-browser-secret-key-of-at-least-32-bytes")
    with LiveServer(app) as srv: yield srv

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
    a.wait_for_timeout(300)
    assert app.instance(Importer).done == kept.done                              # nothing ran on
    assert log == []

def test_the_admin_lists_jobs_and_cancels_one():
    import time
    from starlette.testclient import TestClient
    app = create_app([Importer], admin=True, secret_key="jobs-admin-secret-key-of-at-least-32-bytes")
    with TestClient(app, headers={"Datastar-Request": "true"}, client=("127.0.0.1", 50000), base_url="http://127.0.0.1:5001") as c:
        job = app.fire(Importer, "process_batch", items=[f"r{i}" for i in range(400)])
        time.sleep(0.2)
        page = c.get("/admin").text
        assert f'data-sm-job-row="{job.id}"' in page and "process_batch" in page and "running" in page
        assert c.post(f"/admin/_jobs/{job.id}/cancel", headers={"Datastar-Request": ""}).status_code == 403   # not from a page of the app
        assert c.post("/admin/_jobs/0000000000000000/cancel").status_code == 404
        assert c.post(f"/admin/_jobs/{job.id}/cancel").status_code == 200
        assert app.wait(job).state == "cancelled" and app.instance(Importer).done == job.commits
        assert "cancelled" in c.get("/admin").text
