import os, pytest
from support import CHROMIUM, CHROMIUM_ARGS, NO_PG, PG, LiveServer, browser_available, fresh_pg_database, local_assets

def pytest_collection_modifyitems(config, items):
    "Under CI=true nothing may be skipped for lack of a browser: fail loudly instead."
    if os.environ.get("CI") == "true" and not browser_available():
        raise pytest.UsageError(f"CI=true but no Chromium at {CHROMIUM}")

@pytest.fixture(scope="session")
def assets():
    return str(local_assets())

@pytest.fixture(scope="session")
def browser():
    if not browser_available(): pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()

@pytest.fixture
def live_server():
    "`live_server(app)`: `app` served on 127.0.0.1 by a `LiveServer` (`url`, `port`, `server`); each one started is stopped when the test ends."
    started = []
    def serve(app, **kw) -> LiveServer:
        started.append(srv := LiveServer(app, **kw))
        return srv
    yield serve
    for srv in reversed(started): srv.stop()

@pytest.fixture
def external_requests():
    "Collects every request a page makes to a host other than 127.0.0.1."
    return []

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    "Under CI=true a skipped test is a failure: CI has the browser and the services."
    out = yield
    rep = out.get_result()
    if os.environ.get("CI") == "true" and rep.skipped and not hasattr(rep, "wasxfail"):
        rep.outcome, rep.longrepr = "failed", f"skipped under CI=true: {rep.longrepr}"

@pytest.fixture
def own_redis():
    "A redis-server of this test's own on a free port (`url`, `port`, `stop()`, `start()`); stopped afterwards."
    import shutil
    from support import OwnRedis
    if not shutil.which("redis-server"): pytest.skip("redis-server is not installed (apt-get install redis-server)")
    r = OwnRedis()
    yield r
    r.stop()

@pytest.fixture(scope="module")
def pg_db():
    "A fresh Postgres database for the module, dropped afterwards (a module may ask one per test instead)."
    if not PG: pytest.skip(NO_PG)
    with fresh_pg_database() as url: yield url

@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path):
    "A database URL for each test, once on SQLite and once on Postgres (its `pg_db`)."
    if request.param == "sqlite": return f"sqlite:///{tmp_path}/app.db"
    return request.getfixturevalue("pg_db")
