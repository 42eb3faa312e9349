"The `starmodel` command in real processes, on SQLite and on the real Postgres: migrations keep rows, reset, entities, run, errors."
import os, shutil, subprocess, sys, textwrap, time
from pathlib import Path
import httpx, pytest
from sqlalchemy import inspect, text
from starmodel_nb.adapters.persistence.sql import make_engine
from support import NO_PG, PG, free_port, fresh_pg_database


@pytest.fixture
def pg_db():
    "A fresh Postgres database for one test (the migration history lives in the database), dropped afterwards."
    if not PG: pytest.skip(NO_PG)
    with fresh_pg_database("sm_cli") as url: yield url

@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path):
    if request.param == "sqlite": return f"sqlite:///{tmp_path}/shop.db"
    return request.getfixturevalue("pg_db")

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

class Project:
    "A project folder: settings.ini, the entities module `shop.py`, and the `starmodel` command run in it."
    def __init__(self, path: Path, url: str):
        self.path, self.url = path, url
        (path/"settings.ini").write_text(f"[starmodel]\napp = shop\ndatabase_url = {url}\n")
        self.model()
    def model(self, extra: str = ""): (self.path/"shop.py").write_text(MODEL.format(extra=textwrap.indent(extra, "    ")))
    def __call__(self, *args, timeout=60, **kw) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("STARMODEL_") or k.startswith("STARMODEL_TEST")}
        if "input" not in kw: kw.setdefault("stdin", subprocess.DEVNULL)
        return subprocess.run([sys.executable, "-m", "starmodel_nb.cli", *args], cwd=self.path, env=env,
                              capture_output=True, text=True, timeout=timeout, **kw)
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
    r = subprocess.run([sys.executable, "-c", "import shop; from starmodel_nb.factory import create_app; create_app()"],
                       cwd=project.path, capture_output=True, text=True, timeout=60,
                       env={**os.environ, "STARMODEL_DATABASE_URL": project.url})
    assert r.returncode != 0 and "SchemaBehind" in r.stderr and "widget.color" in r.stderr and "starmodel migrate" in r.stderr

    out = ok(project("migrate", "-m", "widget colors"))
    assert "add column widget.color" in out and "add column widget.note" in out
    assert len(project.revisions()) == 2 and any(n.endswith("_widget_colors.py") for n in project.revisions())
    assert {"color", "note"} <= project.columns()
    assert project.sql("SELECT name, stock, color, note FROM widget ORDER BY id") == [("bolt", 3, "red", None), ("nut", 7, "red", None)]
    project.sql("INSERT INTO widget (name, stock) VALUES ('gear', 0)")   # the column's default now works for other writers too
    assert project.sql("SELECT color FROM widget WHERE name = 'gear'") == [("red",)]

    r = subprocess.run([sys.executable, "-c", "import shop; from starmodel_nb.factory import create_app; create_app(); print('up')"],
                       cwd=project.path, capture_output=True, text=True, timeout=60,
                       env={**os.environ, "STARMODEL_DATABASE_URL": project.url})
    assert r.returncode == 0 and r.stdout.strip() == "up", r.stderr
    assert ok(project("migrate")).startswith("no changes") and len(project.revisions()) == 2

def test_migrate_on_tables_the_app_created_and_on_an_empty_database(project):
    "Revisions exist; a database whose tables the app made is only marked as up to date; an empty one runs the history."
    ok(project("migrate"))
    project.sql("DROP TABLE widget"); project.sql("DROP TABLE alembic_version")
    r = subprocess.run([sys.executable, "-c", "import shop; from starmodel_nb.factory import create_app; create_app()"],
                       cwd=project.path, capture_output=True, text=True, timeout=60,
                       env={**os.environ, "STARMODEL_DATABASE_URL": project.url})
    assert r.returncode == 0 and "widget" in project.tables() and "alembic_version" not in project.tables(), r.stderr
    out = ok(project("migrate"))
    assert "already matches the models: marked as at" in out and "no changes" in out and len(project.revisions()) == 1

    project.sql("DROP TABLE widget"); project.sql("DROP TABLE alembic_version")
    out = ok(project("migrate"))
    assert "from an empty history" in out and "no changes" in out and "widget" in project.tables()

@pytest.fixture
def sqlite_project(tmp_path): return Project(tmp_path, f"sqlite:///{tmp_path}/shop.db")

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
        t0 = time.monotonic()
        r = p(*args)
        assert time.monotonic() - t0 < 10
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
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STARMODEL_")}
    proc = subprocess.Popen([sys.executable, "-m", "starmodel_nb.cli", "run", "--port", str(port), *args], cwd=p.path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None: raise AssertionError(f"run exited {proc.returncode}: {proc.stderr.read()}")
        try: return proc, port, httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
        except httpx.TransportError: time.sleep(0.1)
    proc.kill(); raise AssertionError("run did not start")

def test_run_serves_create_app_or_the_named_app(sqlite_project):
    p = sqlite_project
    proc, port, r = _serve(p)
    try:
        assert r.status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/widgets", headers={"Accept": "application/json"}).json()["items"] == []
        assert p.tables() >= {"widget"}                         # a fresh database gets its tables at start
    finally: proc.terminate(); proc.wait(10)
    (p.path/"website.py").write_text("from starlette.applications import Starlette\nfrom starlette.responses import PlainTextResponse\n"
                                     "from starlette.routing import Route\nimport shop\n"
                                     "app = Starlette(routes=[Route('/', lambda req: PlainTextResponse('hi from website'))])\n")
    proc, port, r = _serve(p, "--app", "website:app")
    try: assert r.text == "hi from website"
    finally: proc.terminate(); proc.wait(10)

def test_run_refuses_a_schema_behind_the_models(sqlite_project):
    p = sqlite_project
    ok(p("migrate"))
    p.model("color: str = 'red'\n")
    r = p("run", "--port", str(free_port()))
    assert r.returncode == 1 and "widget.color" in r.stderr and "run `starmodel migrate`" in r.stderr

def test_the_starmodel_script_is_installed():
    exe = shutil.which("starmodel")
    if exe is None: pytest.skip("the starmodel script is not on PATH (pip install -e .)")
    r = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and all(c in r.stdout for c in ("migrate", "db", "entities", "run"))
