"""The `starmodel` command on SQLite and on the real Postgres: migrations keep rows, reset, entities, run, errors.
Commands run `main([...])` in this process, each in what a new process would start with (see `Project.fresh`):
a process costs a second of imports. Serving with `run`, and the installed script, run as real processes."""
import importlib, io, os, shutil, subprocess, sys, textwrap, threading
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path
from weakref import WeakValueDictionary
import httpx, pytest, uvicorn
from sqlalchemy import MetaData, inspect, text
from sqlmodel import SQLModel
from starmodel_nb import config
from starmodel_nb.adapters.persistence import sql as persist
from starmodel_nb.adapters.persistence.sql import SchemaBehind, make_engine
from starmodel_nb.cli import main
from starmodel_nb.core import registry
from support import NO_PG, PG, free_port, fresh_pg_database, wait_until

# the script pip installed beside this interpreter (its bin/ need not be on PATH)
STARMODEL = shutil.which("starmodel", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))

@pytest.fixture
def pg_db():
    "A fresh Postgres database for one test (the migration history lives in the database), dropped afterwards."
    if not PG: pytest.skip(NO_PG)
    with fresh_pg_database("sm_cli") as url: yield url

MODEL = '''
from typing import Optional
from starmodel_nb import Entity, Field

class Widget(Entity, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str
    stock: int = 0
{extra}
class Note(Entity):
    text: str = ""
'''

def guarded(f, *a, timeout=60):
    "`f(*a)` in a daemon thread: a hang fails the test after `timeout` s instead of stalling the suite."
    box = []
    def go():
        try: box.append((True, f(*a)))
        except BaseException as e: box.append((False, e))
    t = threading.Thread(target=go, daemon=True)
    t.start(); t.join(timeout)
    assert box, f"{f.__name__}{a} still running after {timeout} s"
    ok, v = box[0]
    if not ok: raise v
    return v

class Project:
    "A project folder: settings.ini, the entities module `shop.py`, and the `starmodel` command run in it."
    def __init__(self, path: Path, url: str):
        self.path, self.url = path, url
        (path/"settings.ini").write_text(f"[starmodel]\napp = shop\ndatabase_url = {url}\n")
        self.model()
    def model(self, extra: str = ""): (self.path/"shop.py").write_text(MODEL.format(extra=textwrap.indent(extra, "    ")))

    @contextmanager
    def fresh(self, input=""):
        "What a new process in the folder starts with: no STARMODEL_* settings, no entities or tables, nothing imported from here."
        with pytest.MonkeyPatch.context() as mp:
            mp.chdir(self.path)
            for k in [k for k in os.environ if k.startswith("STARMODEL_") and not k.startswith("STARMODEL_TEST")]: mp.delenv(k)
            mp.setattr(sys, "stdin", io.StringIO(input))          # not a terminal, as under subprocess
            mp.setattr(sys, "path", [str(self.path), *sys.path])  # the migrations' env.py adds the cwd and never removes it
            mp.setattr(sys, "dont_write_bytecode", True)          # a rewritten shop.py of the same size and second must not load a stale .pyc
            mp.setattr(registry, "_by_slug", {})
            mp.setattr(SQLModel, "metadata", MetaData())
            mp.setattr(SQLModel._sa_registry, "_class_registry", WeakValueDictionary())   # the mapped classes by name
            mp.setattr(config, "_dev_secret", [])
            importlib.invalidate_caches()                         # see files written since the last import
            try: yield
            finally:
                for k, m in list(sys.modules.items()):
                    if (getattr(m, "__file__", None) or "").startswith(str(self.path) + os.sep): del sys.modules[k]

    def __call__(self, *args, input="") -> subprocess.CompletedProcess:
        "`starmodel *args` with `input` on stdin, by `main` in this process."
        with self.fresh(input), redirect_stdout(io.StringIO()) as out, redirect_stderr(io.StringIO()) as err:
            rc = guarded(main, list(args))
        return subprocess.CompletedProcess(args, rc, out.getvalue(), err.getvalue())

    def boot(self):
        "What the app's own process does, `import shop; create_app()`: raises if it refuses to start."
        from starmodel_nb.factory import create_app
        engines = []
        def track(*a, **kw): engines.append(make_engine(*a, **kw)); return engines[-1]
        with self.fresh(), pytest.MonkeyPatch.context() as mp:
            mp.setattr(persist, "make_engine", track)   # the app's engines end with this "process", started or not
            importlib.import_module("shop")
            try: guarded(create_app)
            finally:
                for e in engines: e.dispose()

    def sql(self, q: str, **params):
        eng = make_engine(self.url)
        try:
            with eng.begin() as c: r = c.execute(text(q), params); return r.all() if r.returns_rows else None
        finally: eng.dispose()
    def columns(self, table="widget") -> set[str]:
        eng = make_engine(self.url)
        try: return {c["name"] for c in inspect(eng).get_columns(table)}
        finally: eng.dispose()
    def tables(self) -> set[str]:
        eng = make_engine(self.url)
        try: return set(inspect(eng).get_table_names())
        finally: eng.dispose()
    def revisions(self) -> list[str]: return sorted(p.name for p in (self.path/"migrations"/"versions").glob("*.py"))

@pytest.fixture
def project(tmp_path, db_url): return Project(tmp_path, db_url)

@pytest.fixture
def sqlite_project(tmp_path): return Project(tmp_path, f"sqlite:///{tmp_path}/shop.db")

def ok(r):
    assert r.returncode == 0, f"exit {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"
    return r.stdout

def test_migrate_adds_a_column_and_keeps_the_rows(project):
    out = ok(project("migrate"))
    assert "create table widget" in out and (project.path/"migrations"/"env.py").exists()
    assert len(project.revisions()) == 1 and project.columns() == {"id", "name", "stock", "sm_version"}
    project.sql("INSERT INTO widget (name, stock) VALUES ('bolt', 3), ('nut', 7)")

    out = ok(project("migrate"))
    assert out.startswith("no changes") and len(project.revisions()) == 1

    project.model('color: str = "red"\nnote: Optional[str] = None\n')
    with pytest.raises(SchemaBehind) as e: project.boot()
    assert "widget.color" in str(e.value) and "starmodel migrate" in str(e.value)

    out = ok(project("migrate", "-m", "widget colors"))
    assert "add column widget.color" in out and "add column widget.note" in out
    assert len(project.revisions()) == 2 and any(n.endswith("_widget_colors.py") for n in project.revisions())
    assert {"color", "note"} <= project.columns()
    assert project.sql("SELECT name, stock, color, note FROM widget ORDER BY id") == [("bolt", 3, "red", None), ("nut", 7, "red", None)]
    project.sql("INSERT INTO widget (name, stock) VALUES ('gear', 0)")   # the column's default now works for other writers too
    assert project.sql("SELECT color FROM widget WHERE name = 'gear'") == [("red",)]

    project.boot()                                              # the app starts on the migrated schema
    assert ok(project("migrate")).startswith("no changes") and len(project.revisions()) == 2

def test_migrate_on_tables_the_app_created_and_on_an_empty_database(project):
    "Revisions exist; a database whose tables the app made is only marked as up to date; an empty one runs the history."
    ok(project("migrate"))
    project.sql("DROP TABLE widget"); project.sql("DROP TABLE alembic_version")
    project.boot()
    assert "widget" in project.tables() and "alembic_version" not in project.tables()
    out = ok(project("migrate"))
    assert "already matches the models: marked as at" in out and "no changes" in out and len(project.revisions()) == 1

    project.sql("DROP TABLE widget"); project.sql("DROP TABLE alembic_version")
    out = ok(project("migrate"))
    assert "from an empty history" in out and "no changes" in out and "widget" in project.tables()

def test_db_reset(project):
    ok(project("migrate"))
    project.sql("INSERT INTO widget (name, stock) VALUES ('bolt', 1)")
    r = project("db", "reset")                                  # stdin is not a terminal, no --yes
    assert r.returncode == 1 and "pass --yes" in r.stderr and r.stderr.count("\n") == 1
    assert project.sql("SELECT count(*) FROM widget") == [(1,)]
    r = project("db", "reset", input="y\n")                      # an answer on a pipe is not a confirmation
    assert r.returncode == 1 and project.sql("SELECT count(*) FROM widget") == [(1,)]

    out = ok(project("db", "reset", "--yes"))
    assert "dropped and recreated widget" in out
    assert project.sql("SELECT count(*) FROM widget") == [(0,)] and "alembic_version" not in project.tables()
    out = ok(project("migrate"))
    assert "already matches the models: marked as at" in out and "no changes" in out and len(project.revisions()) == 1
    assert "alembic_version" in project.tables()

def test_entities_lists_row_counts(project):
    ok(project("migrate"))
    project.sql("INSERT INTO widget (name, stock) VALUES ('a', 1), ('b', 2), ('c', 3)")
    lines = ok(project("entities")).splitlines()
    assert lines[0].split() == ["entity", "store", "scope", "table", "key", "rows"]
    assert lines[1].split() == ["shop.Widget", "SERVER_SQL", "record", "widget", "id", "3"]
    assert lines[2].split() == ["shop.Note", "SERVER_MEMORY", "session", "-", "-", "-"]

def test_an_unreachable_database_is_one_line_and_exit_code_2(tmp_path):
    p = Project(tmp_path, "postgresql://postgres:hunter2@127.0.0.1:1/x")
    for args in (["migrate"], ["db", "reset", "--yes"]):
        r = p(*args)                                            # refused at once; `guarded` turns a hang into a failure
        assert r.returncode == 2, (r.stdout, r.stderr)
        assert r.stderr.startswith("starmodel: cannot reach the database postgresql://postgres:***@127.0.0.1:1/x")
        assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr and "hunter2" not in r.stderr + r.stdout
    lines = ok(p("entities")).splitlines()                      # the list is still shown, counts as "?"
    assert lines[1].split()[-1] == "?" and "could not count" in lines[-1]

def test_app_errors_are_one_line(tmp_path):
    p = Project(tmp_path, f"sqlite:///{tmp_path}/shop.db")
    (tmp_path/"settings.ini").write_text(f"[starmodel]\ndatabase_url = sqlite:///{tmp_path}/shop.db\n")
    r = p("migrate")
    assert r.returncode == 1 and r.stderr == "starmodel: no app: set app in settings.ini [starmodel] or pass --app\n"
    r = p("entities", "--app", "nowhere")
    assert r.returncode == 1 and r.stderr == "starmodel: cannot import 'nowhere': ModuleNotFoundError: No module named 'nowhere'\n"
    (tmp_path/"bad.py").write_text("from starmodel_nb import Entity\nclass Bad(Entity, table=True):\n    name: str\n")
    r = p("migrate", "--app", "bad")
    assert r.returncode == 1 and "cannot import 'bad': bad.py:2: " in r.stderr and "primary key" in r.stderr and r.stderr.count("\n") == 1
    assert not (tmp_path/"shop.db").exists()

def test_db_shell_has_the_engine_and_the_entities(sqlite_project):
    p = sqlite_project
    ok(p("migrate"))
    p.sql("INSERT INTO widget (name, stock) VALUES ('bolt', 1)")
    r = p("db", "shell", input="with Session(engine) as s: print('names:', [w.name for w in s.exec(select(Widget))], Note.__name__, settings.app)\n\n")
    assert r.returncode == 0, r.stderr
    assert "names: ['bolt'] Note shop" in r.stdout
    assert "starmodel_nb shell on sqlite:///" in r.stderr and "entities: Widget, Note" in r.stderr

def _serve(p: Project, *args):
    "`starmodel run` in a real process, by the installed script; returns it and its port."
    if STARMODEL is None: pytest.skip("the starmodel script is not installed (pip install -e .)")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STARMODEL_")}
    return subprocess.Popen([STARMODEL, "run", "--port", str(port), *args], cwd=p.path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True), port

def _get(proc, port, path="/", timeout=60, **kw):
    "GET `path` once the server answers; `timeout` s is only a hang guard."
    def answer():
        if proc.poll() is not None: raise AssertionError(f"run exited {proc.returncode}: {proc.stderr.read()}")
        return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=10, **kw)
    return wait_until(answer, timeout=timeout, every=0.05, ignore=httpx.TransportError, what=f"run to answer {path}")

def test_run_serves_create_app_or_the_named_app(sqlite_project):
    p = sqlite_project
    (p.path/"website.py").write_text("from starlette.applications import Starlette\nfrom starlette.responses import PlainTextResponse\n"
                                     "from starlette.routing import Route\nimport shop\n"
                                     "app = Starlette(routes=[Route('/', lambda req: PlainTextResponse('hi from website'))])\n")
    (a, pa), (b, pb) = _serve(p), _serve(p, "--app", "website:app")   # both at once: each process pays its imports in parallel
    try:
        assert _get(a, pa).status_code == 200
        assert _get(a, pa, "/widgets", headers={"Accept": "application/json"}).json()["items"] == []
        assert p.tables() >= {"widget"}                         # a fresh database gets its tables at start
        assert _get(b, pb).text == "hi from website"
    finally:
        for proc in (a, b): proc.kill(); proc.communicate()

def test_run_refuses_a_schema_behind_the_models(sqlite_project, monkeypatch):
    p = sqlite_project
    ok(p("migrate"))
    p.model("color: str = 'red'\n")
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: pytest.fail("run served a schema behind the models"))
    r = p("run", "--port", str(free_port()))
    assert r.returncode == 1 and "widget.color" in r.stderr and "run `starmodel migrate`" in r.stderr

def test_the_starmodel_script_is_installed():
    if STARMODEL is None: pytest.skip("the starmodel script is not installed (pip install -e .)")
    r = subprocess.run([STARMODEL, "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and all(c in r.stdout for c in ("migrate", "db", "entities", "run"))

def test_run_reload_restarts_on_a_change_of_the_project(sqlite_project):
    p = sqlite_project
    proc, port = _serve(p, "--reload")
    try:
        assert _get(proc, port, "/widgets", headers={"Accept": "application/json"}).status_code == 200
        assert _get(proc, port, "/memo").status_code == 404
        (p.path/"shop.py").write_text((p.path/"shop.py").read_text() + "\nclass Memo(Entity):\n    text: str = 'written after the start'\n")
        wait_until(lambda: _get(proc, port, "/memo").status_code == 200, timeout=60, every=0.2, what="the restarted process to serve /memo")
        assert "written after the start" in _get(proc, port, "/memo").text   # the new entity, served by the restarted process
    finally:
        proc.terminate()
        try: proc.communicate(timeout=10)
        except subprocess.TimeoutExpired: proc.kill(); proc.communicate()

def test_entities_inspect_and_every_command_has_help(sqlite_project):
    p = sqlite_project
    out = ok(p("entities", "inspect", "widget"))
    assert "shop.Widget  (/widgets)" in out and "store SERVER_SQL, scope record, key id" in out and "name" in out
    assert ok(p("entities", "list")).splitlines()[0].split()[:3] == ["entity", "store", "scope"]
    r = p("entities", "inspect", "gadget")
    assert r.returncode == 1 and "no entity 'gadget'" in r.stderr
    r = p("entities", "inspect")
    assert r.returncode == 1 and "needs the name of an entity" in r.stderr
    for cmd in (["migrate"], ["db"], ["db", "reset"], ["db", "shell"], ["entities"], ["run"], ["assets"]):
        r = p(*cmd, "--help")
        assert r.returncode == 0 and "usage: starmodel" in r.stdout, cmd
    (p.path/"settings.ini").write_text("[starmodel]\n")        # no app at all
    for cmd in (["entities"], ["run"], ["db", "reset", "--yes"]):
        r = p(*cmd)
        assert r.returncode == 1 and "no app: set app in settings.ini [starmodel] or pass --app" in r.stderr, (cmd, r.stderr)

def test_init_makes_a_project_that_passes_its_own_tests_and_serves(tmp_path):
    if STARMODEL is None: pytest.skip("the starmodel script is not installed (pip install -e .)")
    bin_ = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if not k.startswith("STARMODEL_") and k != "IN_TEST"}
    r = subprocess.run([STARMODEL, "init", "shop-app"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    root = tmp_path/"shop-app"
    assert "starmodel run" in (root/"README.md").read_text() and (root/"shop_app/entities.py").exists()
    again = subprocess.run([STARMODEL, "init", "shop-app"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 1 and "is not empty" in again.stderr                     # refused
    t = subprocess.run([str(bin_/"nbdev-test")], cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert t.returncode == 0, t.stdout + t.stderr                                        # its own notebook tests
    t = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "nbs", "tests", "-q", "-p", "no:cacheprovider"], cwd=root,
                       env=env, capture_output=True, text=True, timeout=600)
    assert t.returncode == 0 and " passed" in t.stdout, t.stdout[-2000:]                 # nbval and its pytest
    e = subprocess.run([str(bin_/"nbdev-export")], cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert e.returncode == 0 and not e.stderr.strip(), e.stderr
    port = free_port()
    proc = subprocess.Popen([STARMODEL, "run", "--port", str(port)], cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert _get(proc, port, "/tasks").status_code == 200 and "No tasks yet." in _get(proc, port, "/tasks").text
        assert _get(proc, port, "/visits").status_code == 200
    finally:
        proc.terminate(); proc.communicate(timeout=10)
