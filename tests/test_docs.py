"""The documentation site (mkdocs.yml): built with warnings as errors, every notebook a page with its kept outputs, the
API of each module, search, nothing fetched from another host when a page is read, and the modules' docstrings
pointing at pages the site has."""
import importlib, pkgutil, re, subprocess, sys, threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit
import pytest

ROOT = Path(__file__).resolve().parent.parent

@pytest.fixture(scope="module")
def site(tmp_path_factory):
    "The site, built as `.ci/docs` builds it (`mkdocs build --strict`), into a folder of this test run."
    out = tmp_path_factory.mktemp("site")
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)], cwd=ROOT,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-5000:]
    return out

@pytest.fixture(scope="module")
def served(site):
    "The built site over HTTP on 127.0.0.1 (as a preview or GitHub Pages serve it), its base URL."
    srv = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(site)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()

class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *a): pass

def _modules() -> list[str]:
    pkg = importlib.import_module("starmodel_nb")
    return sorted(m.name for m in pkgutil.walk_packages(pkg.__path__, "starmodel_nb.") if not m.name.endswith("_modidx"))

def test_every_notebook_is_a_page_and_every_module_has_its_api(site):
    nbs = [p for p in (ROOT / "nbs").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts]
    pages = {re.sub(r"^\d+[a-zA-Z0-9]*_", "", p.name.lower()).replace(".ipynb", ".html") for p in nbs}
    assert len(nbs) > 40 and not [p for p in pages if not list(site.rglob(p))], pages
    core = (site / "api" / "core.html").read_text()
    assert 'id="starmodel_nb.core.Entity"' in core and "Base class of entities" in core       # the API, from the module itself
    assert (site / "search" / "search_index.json").stat().st_size > 100_000

def test_module_docstrings_link_to_pages_the_site_has(site):
    base = "https://starmodel.github.io/starmodel_nb/"
    for name in _modules():
        doc = importlib.import_module(name).__doc__ or ""
        if not (m := re.search(r"Docs: (\S+)", doc)): continue
        url = m.group(1)
        assert url.startswith(base), (name, url)
        rel = url[len(base):]
        assert (site / rel).is_file() and (site / rel.removesuffix(".md")).is_file(), (name, url)

def test_a_page_shows_a_lessons_output_and_fetches_nothing_elsewhere(served, browser):
    page, elsewhere = browser.new_page(), []
    page.on("request", lambda r: elsewhere.append(r.url) if urlsplit(r.url).hostname not in ("127.0.0.1", None) and
            not r.url.startswith(("data:", "blob:")) else None)
    page.goto(served + "/core.html", wait_until="networkidle")
    outputs = page.locator(".jp-OutputArea-output").all_inner_texts()
    assert any("'client_session'," in o for o in outputs), outputs[:5]             # a lesson's kept output
    assert "Records by their fields" in page.inner_text("article")                 # its prose
    page.keyboard.press("/")                                                       # Material's search, offline
    page.keyboard.type("plural_of")
    page.wait_for_selector(".md-search-result__item", timeout=30_000)
    assert any("core" in (a.get_attribute("href") or "") for a in page.locator(".md-search-result__item a").all())
    assert elsewhere == [], elsewhere
