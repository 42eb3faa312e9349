"The notebook as a live control plane, in a real Jupyter kernel (nbclient) with Chromium clicking the served page."
import json, os, re
import pytest
from support import notebook_kernel, wait_until

CELLS = [
    "import os\nfrom starmodel_nb import Entity, event, create_app, serve, inspect",
    """class Kcounter(Entity):
    model_config = {"scope": "global"}
    n: int = 0
    @event
    def bump(self): self.n += 1
    @event
    def explode(self): raise RuntimeError("kaboom in an event")
srv = serve(create_app([Kcounter], assets=os.environ["SM_ASSETS"], secret_key="kernel-secret-key-of-at-least-32-bytes"), name="kernel")
print(srv.port)""",
    "view = inspect(Kcounter, 'global', app=srv.app)",
    "print(view.fields['n'].value, srv.app.instance(Kcounter).n)",
    "with srv.app.edit(Kcounter) as c: c.n = 42",
    "view.fields['n'].value = 7",
    """import urllib.request
from fasthtml.core import IN_NOTEBOOK
r = urllib.request.urlopen(urllib.request.Request(srv.url + '/kcounter', headers={'Origin': 'https://evil.example', 'Cookie': 'starmodel_session=x'}))
print(IN_NOTEBOOK, r.headers.get('access-control-allow-origin'), r.headers.get('access-control-allow-credentials'))""",
    "import json; print(json.dumps([o.get('text', '') for o in srv.log_handler.out.outputs]))",
    "srv.stop()",
]

@pytest.fixture
def kernel(assets):
    os.environ["SM_ASSETS"] = assets
    with notebook_kernel(CELLS) as run: yield run

def wait_n(page, n):
    try: page.wait_for_function(f"document.getElementById('sm-kcounter-n').textContent.trim() === '{n}'", polling=50, timeout=20_000)
    except Exception: raise AssertionError(f"waited for {n}, the page shows {page.locator('#sm-kcounter-n').inner_text()!r}") from None

def test_kernel_and_browser_see_each_other(kernel, browser):
    kernel(0)
    port = int(kernel(1))
    kernel(2)
    page = browser.new_context().new_page()
    page.goto(f"http://127.0.0.1:{port}/kcounter")
    for _ in range(3): page.get_by_role("button", name="Bump").click()
    wait_n(page, 3)
    assert kernel(3) == "3 3"                      # the browser's clicks reached the kernel, widgets included
    kernel(4); wait_n(page, 42)                     # app.edit in a cell reaches the browser
    kernel(5); wait_n(page, 7)                      # so does an edit in the widget
    assert kernel(6) == "True None None"            # FastHTML saw a notebook, yet no CORS grant
    page.get_by_role("button", name="Explode").click()
    page.get_by_role("alert").filter(has_text="kaboom in an event").wait_for(timeout=20_000)
    logged = []
    def told():   # the kernel's log widget, as a cell reads it
        logged[:] = json.loads(kernel(7))
        return any(re.search(r"Kcounter.explode failed \(reference [0-9a-f]{8}\): kaboom in an event", t) and "Traceback" in t for t in logged)
    wait_until(told, what=lambda: f"the failure and its traceback in the kernel's log; it holds {logged}")
    kernel(8)
