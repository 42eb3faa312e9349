"""Plugins: the test plugin (tests/plugin_pkg, installed by .ci/setup) in use for each kind it adds: its store keeps
`CUSTOM` entities across apps and processes and its `backup` command reads them, its widget is on the forms, its
renderer serves every kind of page (so the `Renderer` protocol is all the web calls), its bus, route and middleware;
and a broken plugin, installed as an entry point, reported by name while the app serves."""
import json, os, subprocess, sys, textwrap
from pathlib import Path
import httpx, pytest
from starlette.testclient import TestClient
from starmodel_nb import Entity, Field, event
from starmodel_nb.factory import create_app
from starmodel_nb.adapters.web.admin import short_key
from starmodel_nb.plugins import load_plugins
from support import free_port, wait_until

try: from starmodel_testplugin import Color, CountingBus, JsonFileRepository, PlainUI
except ImportError:
    if os.environ.get("CI") == "true": raise   # CI installs it (.ci/setup): its absence is a failure there
    pytest.skip("the test plugin is not installed: .ci/setup installs it (pip install -e tests/plugin_pkg)", allow_module_level=True)

STARMODEL = str(Path(sys.executable).parent / "starmodel")
DS = {"Datastar-Request": "true"}

class PlugNote(Entity):
    model_config = {"store": "custom", "backend": "jsonfile", "scope": "global"}
    text: str = ""
    writes: int = 0
    @event
    def write(self, text: str): self.text, self.writes = text, self.writes + 1

class PlugPart(Entity, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str
    color: Color = Color("#336699")
    @event(method="post")
    def rename(self, name: str): self.name = name

@pytest.fixture
def jsondir(tmp_path, monkeypatch):
    d = tmp_path / "kept"
    monkeypatch.setenv("STARMODEL_JSONFILE_DIR", str(d))
    return d

def app_with(tmp_path, *entities, **kw):
    return create_app(list(entities), database_url=f"sqlite:///{tmp_path}/plug.db", **kw)

def client(app, events: bool = True):   # events: as Datastar sends them; else a browser's navigations. The admin answers loopback only
    return TestClient(app, headers=DS if events else {}, client=("127.0.0.1", 1), base_url="http://127.0.0.1:5001")

def test_the_installed_plugin_is_found_with_each_kind():
    ps = load_plugins("auto")
    assert not ps.broken, ps.broken
    tp = next(p for p in ps.loaded if p.name == "testplugin")
    assert (list(tp.stores), list(tp.renderers), list(tp.buses), list(tp.commands)) == (["jsonfile"], ["plain"], ["counting"], ["backup"])
    assert [t for t, _ in tp.widgets] == [Color] and [r.path for r in tp.routes] == ["/_testplugin/ping"] and len(tp.middlewares) == 1
    assert load_plugins("off").loaded == [] and [p.name for p in load_plugins("testplugin").loaded] == ["testplugin"]

def test_a_custom_store_keeps_entities_across_apps(tmp_path, jsondir):
    app = app_with(tmp_path, PlugNote)
    assert isinstance(app.sm.repo_for(PlugNote), JsonFileRepository)
    c = client(app)
    for i in range(5): assert c.get(f"/plugnote/write?text=note+{i}").status_code == 200
    assert c.get("/plugnote/write?text=" + "x" * 20 + "&text=2").status_code == 200
    files = list((jsondir / "plugnote").glob("*.json"))
    assert len(files) == 1 and json.loads(files[0].read_text())["version"] == 6
    again = app_with(tmp_path, PlugNote)                        # a new app (a restart): the files are the state
    [(key, note, version)] = again.instances(PlugNote)
    assert (note.writes, version) == (6, 6)
    assert '"writes": 6' in client(again).get("/plugnote").text.replace("&quot;", '"')
    with again.edit(PlugNote) as n: n.text = "from the notebook"  # the control plane goes through the same store
    assert json.loads(files[0].read_text())["state"]["text"] == "from the notebook"
    assert client(again).get("/plugnote/write").status_code == 422   # a missing parameter: refused, nothing written
    assert json.loads(files[0].read_text())["version"] == 7

def test_concurrent_events_on_a_custom_store_lose_nothing(tmp_path, jsondir):
    from concurrent.futures import ThreadPoolExecutor
    app = app_with(tmp_path, PlugNote)
    with ThreadPoolExecutor(8) as pool: list(pool.map(lambda i: app.fire(PlugNote, "write", text=str(i)), range(40)))
    [(_, note, version)] = app.instances(PlugNote)
    assert (note.writes, version) == (40, 40)

def test_the_widget_is_on_the_forms_and_the_type_is_checked(tmp_path):
    c = client(app_with(tmp_path, PlugPart))
    form = c.get("/plugparts/new").text
    assert 'type="color"' in form and 'data-widget="color"' in form and 'value="#336699"' in form
    assert c.post("/plugparts", data={"name": "bolt", "color": "#ff0000"}).status_code in (200, 303)
    bad = c.post("/plugparts", data={"name": "nut", "color": "red"})
    assert 'id="sm-plugpart-form-color-error"' in bad.text and "should match pattern" in bad.text   # the form again, the error by the field
    assert [p.color for _, p, _ in c.app.instances(PlugPart)] == ["#ff0000"]

def test_a_plugin_renderer_serves_every_page(tmp_path, jsondir, monkeypatch):
    monkeypatch.setenv("STARMODEL_UI", "plain")                    # the setting, as a deployment writes it
    app = app_with(tmp_path, PlugNote, PlugPart, admin=True)
    assert isinstance(app.sm.ui, PlainUI)
    c = client(app)
    assert c.post("/plugparts", data={"name": "bolt"}).status_code in (200, 303)
    assert c.get("/plugnote/write?text=hi").status_code == 200
    assert c.post("/plugparts/1/rename", data={"name": "big bolt"}).status_code == 200
    [(key, *_)] = app.instances(PlugNote)
    pages = ["/", "/plugnote", "/plugparts", "/plugparts/new", "/plugparts/1", "/plugparts/1/edit", "/plugparts?q=bolt&sort=name",
             "/admin", "/admin/_history", "/admin/plugnote", f"/admin/plugnote/{short_key(key)}", "/admin/plugpart"]
    browse = client(app, events=False)
    for path in pages:
        r = browse.get(path)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
        assert 'data-renderer="plain"' in r.text, path
    assert "big bolt" in c.get("/plugparts/1").text

def test_a_plugin_bus_route_and_middleware(tmp_path, jsondir):
    app = app_with(tmp_path, PlugNote, bus="counting")
    assert isinstance(app.sm.bus, CountingBus)
    c = client(app)
    c.get("/plugnote/write?text=a"); c.get("/plugnote/write?text=b")
    r = c.get("/_testplugin/ping")
    assert r.json() == {"plugin": "testplugin", "entities": ["plugnote"], "published": 2}
    assert int(r.headers["x-testplugin"]) >= 3 and "x-testplugin" in c.get("/plugnote").headers
    assert r.headers["x-content-type-options"] == "nosniff"           # inside the app's own middleware: its headers still there
    assert c.get("/_testplugin/ping?" + "q" * 10_000).status_code == 414   # and its limits before it

PROJECT = '''
from starmodel_nb import Entity, event
class VaultNote(Entity):
    model_config = {"store": "custom", "backend": "jsonfile", "scope": "global"}
    text: str = ""
    @event
    def write(self, text: str): self.text = text
class VaultMemo(Entity):
    model_config = {"store": "custom", "backend": "mongo", "scope": "global"}
    text: str = ""
    @event
    def write(self, text: str): self.text = text
class VaultVisit(Entity):
    n: int = 0
    @event
    def visit(self): self.n += 1
'''

def _broken_entry_point(where: Path) -> Path:
    "An installed plugin `mongo` whose module cannot be imported (its dependency is missing), as pip would leave it."
    info = where / "starmodel_mongo_plugin-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: starmodel-mongo-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[starmodel_nb.plugins]\nmongo = starmodel_mongo_plugin_needs_pymongo:plugin\n")
    return where

def _project(tmp_path, memo: bool = True) -> tuple[Path, dict]:
    "A project whose entities use the test plugin's store and (if `memo`) the broken plugin's; the broken plugin installed."
    (tmp_path / "vault.py").write_text(PROJECT if memo else PROJECT.replace('"backend": "mongo"', '"backend": "jsonfile"'))
    (tmp_path / "settings.ini").write_text(f"[starmodel]\napp = vault\ndatabase_url = sqlite:///{tmp_path}/vault.db\n")
    env = {**os.environ, "STARMODEL_JSONFILE_DIR": str(tmp_path / "kept"),
           "PYTHONPATH": os.pathsep.join([str(_broken_entry_point(tmp_path / "site")), os.environ.get("PYTHONPATH", "")])}
    return tmp_path, env

def test_a_broken_plugin_is_named_and_the_app_serves(tmp_path):
    root, env = _project(tmp_path)
    r = subprocess.run([STARMODEL, "plugins"], cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r
    assert "testplugin" in r.stdout and "mongo" in r.stdout and "NOT LOADED: ModuleNotFoundError: No module named 'starmodel_mongo_plugin_needs_pymongo'" in r.stdout
    assert "1 plugin(s) not loaded: mongo" in r.stderr
    port = free_port()
    proc = subprocess.Popen([STARMODEL, "run", "--port", str(port)], cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        def answers():
            assert proc.poll() is None, proc.stdout.read()
            return httpx.get(url + "/", timeout=5)
        wait_until(answers, timeout=90, every=0.1, ignore=httpx.HTTPError, what="starmodel run to start")
        with httpx.Client(base_url=url, headers={**DS, "Sec-Fetch-Site": "same-origin"}) as c:
            assert c.get("/vaultvisit/visit").status_code == 200            # the rest of the app serves
            assert c.get("/vaultnote/write?text=kept").status_code == 200   # the good plugin's store too
            down = c.get("/vaultmemo/write?text=x")
            assert down.status_code == 503 and "mongo" in down.text, (down.status_code, down.text[:300])
            assert c.get("/vaultmemo").status_code == 503
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert "plugin 'mongo' is not loaded: ModuleNotFoundError" in out, out
    assert "no store 'mongo'" in out and "answer 503" in out, out

def test_the_plugin_command_reads_the_custom_store(tmp_path):
    root, env = _project(tmp_path, memo=False)
    (root / "settings.ini").write_text(f"[starmodel]\napp = vault\ndatabase_url = sqlite:///{tmp_path}/vault.db\nplugins = testplugin\n")
    h = subprocess.run([STARMODEL, "--help"], cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert h.returncode == 0 and "backup" in h.stdout and "(plugin testplugin)" in h.stdout, h
    fill = "import vault; from starmodel_nb.factory import create_app; create_app([vault.VaultNote]).fire(vault.VaultNote, 'write', text='backed up')"
    assert subprocess.run([sys.executable, "-c", fill], cwd=root, env=env, timeout=120).returncode == 0
    r = subprocess.run([STARMODEL, "backup", "-o", "out.json"], cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "wrote 1 instances to out.json" in r.stdout, r
    got = json.loads((root / "out.json").read_text())
    assert got["vaultnote"] == [{"key": "global", "version": 1, "state": {"text": "backed up"}}] and got["vaultmemo"] == got["vaultvisit"] == []
    bad = subprocess.run([STARMODEL, "backup", "--nope"], cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "unrecognized arguments: --nope" in bad.stderr
