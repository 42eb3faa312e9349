"""Trust, second round: the sign-in, per-user data, jobs and error text hold against a determined attacker. One test per
class of failure found (each failed before its fix): an off-site `next` (resolved by Chromium's own URL parser), a
sign-out or password change that ended nothing on the server, a removed user's id given to the next sign-up, a job
cancelled past its event's guards, sign-in time and limits, a progress total from a query string, an unexpected
error's text on a page, and the admin's list of 10,000 sessions. Values other Redis clients write: test_trust_redis.py."""
import asyncio, hashlib, logging, os, re, shutil, subprocess
from urllib.parse import quote, urlsplit
import httpx, pytest
from starlette.testclient import TestClient
from starmodel_nb import Entity, event, create_app
from starmodel_nb.adapters.web.auth import _next
from support import LiveServer, arun, free_port, wait_until

SECRET = "trust-tests-secret-key-of-at-least-32-bytes"
DS = {"Datastar-Request": "true"}

class TrustNotes(Entity):
    model_config = {"scope": "user"}
    text: str = ""
    @event
    def write(self, text: str): self.text = text

class TrustExport(Entity):
    model_config = {"scope": "global"}
    rows: int = 0
    @event(background=True, auth="admin")
    async def run(self, n: int = 500):
        for i in range(n): await asyncio.sleep(0.01); self.rows += 1; yield (i + 1, n)

class TrustMine(Entity):
    model_config = {"scope": "user"}
    done: int = 0
    @event(background=True)
    async def work(self, n: int = 500):
        for i in range(n): await asyncio.sleep(0.01); self.done += 1; yield (i + 1, n)

class TrustImport(Entity):
    model_config = {"scope": "global"}
    done: int = 0
    @event(background=True)
    async def load(self, total: int = 10):
        self.done += 1
        yield (1, total)           # a total the request chose: any size

class TrustBroken(Entity):
    model_config = {"scope": "global"}
    n: int = 0
    @event
    def explode(self): raise RuntimeError("cannot open /srv/app/keys/token-9f3a2b")
    @event
    def refuse(self): raise ValueError("Amount must be positive")

ENTITIES = [TrustNotes, TrustExport, TrustMine, TrustImport, TrustBroken]

def make(tmp_path, **kw):
    return create_app(ENTITIES, auth=True, admin=True, secret_key=SECRET, database_url=f"sqlite:///{tmp_path}/trust.db",
                      auth_scrypt_n=2 ** 12, **kw)

def client(app, ip="127.0.0.1"): return TestClient(app, client=(ip, 1), base_url="http://127.0.0.1:5001")

def signed_up(app, name: str, ip="127.0.0.1"):
    c = client(app, ip)
    assert c.post("/signup", json={"name": name, "password": f"{name}-long-password"}).status_code == 200
    return c

# 1. sign-in sends the browser off-site

HOSTILE = ["//evil.example/", "/\\evil.example", "\\/evil.example", "/\t/evil.example", "/\n/evil.example", "/\r\n/evil.example",
           "\x00//evil.example", " //evil.example", "\x01/\x02/evil.example", "\t//evil.example", "/\\/evil.example", "/%5C/evil.example",
           "https://evil.example", "http:evil.example", "javascript:alert(1)", "\\\\evil.example", "/\x0b/evil.example",
           "/\x7f/evil.example", "\u3000//evil.example", "/\u2028/evil.example", "//evil.example@127.0.0.1/", "/.//evil.example",
           "///evil.example", "/ /evil.example", "/\x1f/evil.example", "ftp://evil.example", "data:text/html,<script>x</script>"]

def test_next_resolved_by_chromium_never_leaves_the_site(browser, tmp_path, assets):
    "Every hostile `next`, as `_next` keeps it and as the sign-in answers it, resolves to this origin in Chromium's URL parser."
    page = browser.new_context().new_page()
    app = make(tmp_path, assets=assets)
    with LiveServer(app) as srv:
        page.goto(srv.url + "/login")
        kept = [_next(h) for h in HOSTILE]
        where = page.evaluate("([base, xs]) => xs.map(x => new URL(x, base).origin)", [srv.url + "/login", kept])
        assert where == [srv.url] * len(HOSTILE), [(h, w) for h, w in zip(HOSTILE, where) if w != srv.url]
        app.users.add("ada", "ada-long-password")
        for h in ["/\t/evil.example", "\x01//evil.example", "/\\evil.example"]:    # the whole way: the form, the post, the navigation
            page.goto(f"{srv.url}/login?next={quote(h, safe='')}")
            page.fill("#sm-auth-name", "ada"); page.fill("#sm-auth-password", "ada-long-password")
            page.click("#sm-auth button[type=submit]")
            page.wait_for_url(lambda u: "/login" not in u, timeout=20_000)
            assert urlsplit(page.url).netloc == urlsplit(srv.url).netloc, (h, page.url)
            page.click("#sm-signout"); page.wait_for_selector("#sm-auth-bar >> text=Sign in", timeout=20_000)

# 2. sign-out ends nothing on the server

def test_a_cookie_copied_before_sign_out_signs_nobody_in(browser, tmp_path, assets):
    app = make(tmp_path, assets=assets)
    with LiveServer(app) as srv:
        ctx = browser.new_context(); page = ctx.new_page()
        page.goto(srv.url + "/signup?next=/trustnotes")
        page.fill("#sm-auth-name", "ada"); page.fill("#sm-auth-password", "ada-long-password")
        page.click("#sm-auth button[type=submit]"); page.wait_for_url(srv.url + "/trustnotes", timeout=20_000)
        stolen = ctx.cookies()
        thief = browser.new_context(); thief.add_cookies(stolen); tp = thief.new_page()
        assert tp.goto(srv.url + "/trustnotes").url == srv.url + "/trustnotes"             # the copy works while ada is signed in
        page.click("#sm-signout"); page.wait_for_selector("#sm-auth-bar >> text=Sign in", timeout=20_000)
        assert tp.goto(srv.url + "/trustnotes").url.startswith(srv.url + "/login")          # signed out: the copy too
        status = tp.evaluate("fetch('/trustnotes/write?text=x', {headers: {'Datastar-Request': 'true'}}).then(r => r.status)")
        assert status == 403

def test_a_password_change_and_an_admin_end_every_other_sign_in(tmp_path):
    app = make(tmp_path)
    phone, laptop = signed_up(app, "ada"), client(app)
    assert laptop.post("/login", json={"name": "ada", "password": "ada-long-password"}).status_code == 200
    assert phone.get("/trustnotes/write?text=hi", headers=DS).status_code == 200
    assert app.users.set_password("ada", "a-new-long-password") == 2
    for c in (phone, laptop): assert c.get("/trustnotes/write?text=x", headers=DS).status_code == 403
    assert laptop.post("/login", json={"name": "ada", "password": "a-new-long-password"}).status_code == 200
    assert app.users.sign_out("ada") == 1 and laptop.get("/trustnotes/write?text=x", headers=DS).status_code == 403
    assert app.users.sign_out("ada") == 0

# 3. identities reused

def test_a_removed_users_id_is_never_given_again_and_their_data_goes(tmp_path):
    app = make(tmp_path)
    ada = signed_up(app, "ada")
    ada.get("/trustnotes/write?text=ada's+secret", headers=DS)
    assert [(k, o.text) for k, o, _ in app.instances(TrustNotes)] == [("user:1", "ada's secret")]
    assert app.users.remove("ada").id == 1
    assert app.instances(TrustNotes) == []                                   # removed with her
    bea = signed_up(app, "bea")
    assert bea.post("/login", json={"name": "bea", "password": "bea-long-password"}).json()["user"]["id"] == 2
    assert "ada" not in bea.get("/trustnotes").text
    assert ada.get("/trustnotes/write?text=x", headers=DS).status_code == 403   # her old cookie is nobody, not bea
    app.users.remove("bea")
    assert signed_up(app, "cyd").post("/login", json={"name": "cyd", "password": "cyd-long-password"}).json()["user"]["id"] == 3

# 4. a state-changing route that skips the guards

def test_cancelling_a_job_passes_its_events_guards_and_ownership(tmp_path):
    app = make(tmp_path)
    with LiveServer(app) as srv:
        def who(name: str, admin=False):
            c = httpx.Client(base_url=srv.url, timeout=20)
            if admin: app.users.add(name, f"{name}-long-password", ["admin"])
            r = c.post("/login" if admin else "/signup", json={"name": name, "password": f"{name}-long-password"})
            assert r.status_code == 200, r.text
            return c
        ada, bob, anon = who("ada", admin=True), who("bob"), httpx.Client(base_url=srv.url, timeout=20)
        cancel = lambda c, j: c.post(f"/_sm/jobs/{j.id}/cancel", headers={**DS, "Sec-Fetch-Site": "same-origin"}).status_code
        assert ada.get("/trustexport/run", headers=DS).status_code == 200
        (job,) = app.jobs(TrustExport)
        assert (cancel(bob, job), cancel(anon, job), job.state) == (403, 403, "running")   # not an admin: the event's auth
        assert cancel(ada, job) == 200 and job.state == "cancelled"
        assert ada.get("/trustmine/work", headers=DS).status_code == 200
        (mine,) = app.jobs(TrustMine)
        assert (cancel(bob, mine), cancel(anon, mine), mine.state) == (404, 403, "running")  # another user's instance: no such job
        assert cancel(ada, mine) == 200 and mine.state == "cancelled"

# 5. timing and bursts

def test_sign_in_costs_one_kdf_at_one_cost_whatever_the_name_and_input(tmp_path, monkeypatch):
    app = make(tmp_path)
    app.users.add("ada", "ada-long-password")
    c, calls, real = client(app), [], hashlib.scrypt
    monkeypatch.setattr(hashlib, "scrypt", lambda *a, **kw: calls.append(kw["n"]) or real(*a, **kw))
    tries = [("ada", "wrong-password-1"), ("nobody", "wrong-password-1"), ("<b>", "x"), ("ada", ""), ("ada", "x" * 100_000),
             ("", "wrong-password-1"), ("ADA ", "wrong-password-1"), ("a" * 5000, "wrong-password-1")]
    for name, pw in tries:
        calls.clear()
        c.post("/login", json={"name": name, "password": pw})
        assert calls == [2 ** 12], (name, len(pw), calls)
    calls.clear()
    assert c.post("/login", json={"name": "ada", "password": "ada-long-password"}).status_code == 200 and calls == [2 ** 12]

def test_limits_hold_under_concurrency_and_never_lock_the_owner_out(tmp_path):
    app = make(tmp_path, auth_attempts=3)
    app.users.add("ada", "ada-long-password")
    owner = client(app, "192.0.2.1")
    assert owner.post("/login", json={"name": "ada", "password": "ada-long-password"}).status_code == 200
    async def burst():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app, client=("198.51.100.7", 1)), base_url="http://127.0.0.1:5001") as c:
            return await asyncio.gather(*[c.post("/login", json={"name": "ada", "password": f"guess-{i}-password"}) for i in range(12)])
    got = sorted(r.status_code for r in arun(burst()))
    assert got == [401] * 3 + [429] * 9                                   # sent together, counted together
    for i in range(40):                                                    # a stranger from many addresses
        client(app, f"203.0.113.{i}").post("/login", json={"name": "ada", "password": "guess-password"})
    assert client(app, "203.0.113.200").post("/login", json={"name": "ada", "password": "ada-long-password"}).status_code == 429
    assert owner.post("/login", json={"name": "ada", "password": "ada-long-password"}).status_code == 200   # her browser is known

def test_sign_up_answers_name_taken_within_a_limit(tmp_path):
    app = make(tmp_path, auth_attempts=3)
    app.users.add("ada", "ada-long-password")
    c = client(app, "198.51.100.9")
    got = [c.post("/signup", json={"name": n, "password": "some-long-password"}).status_code for n in ["ada", "bob", "ada", "cyd"] * 4]
    assert got[:12].count(429) == 0 and set(got[12:]) == {429}

@pytest.mark.skipif(shutil.which("starmodel", path=os.path.dirname(os.sys.executable)) is None, reason="the starmodel script is not installed")
def test_starmodel_run_believes_x_forwarded_for_only_from_trusted_proxies(tmp_path):
    (tmp_path/"shop.py").write_text("from starmodel_nb import Entity\nclass Till(Entity):\n    model_config = {'scope': 'global'}\n    n: int = 0\n")
    port = free_port()
    (tmp_path/"settings.ini").write_text(f"[starmodel]\napp = shop\nauth = true\nauth_attempts = 2\nauth_scrypt_n = 4096\n"
                                         f"database_url = sqlite:///shop.db\nsecret_key = {SECRET}\nport = {port}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STARMODEL_") and k != "FORWARDED_ALLOW_IPS"}
    proc = subprocess.Popen([shutil.which("starmodel", path=os.path.dirname(os.sys.executable)), "run"], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        def answers():
            assert proc.poll() is None, proc.stderr.read()
            return httpx.get(f"http://127.0.0.1:{port}/login", timeout=5)
        wait_until(answers, timeout=60, ignore=httpx.TransportError, what="starmodel run to answer")
        got = [httpx.post(f"http://127.0.0.1:{port}/login", json={"name": f"guess{i}", "password": "guess-password"},
                          headers={"X-Forwarded-For": f"203.0.113.{i}"}, timeout=20).status_code for i in range(10)]
        assert got == [401] * 8 + [429] * 2                               # one address (this one) for all: 4x the limit
    finally:
        proc.terminate(); proc.wait(20)

# 6. user input reaching framework code

def test_a_progress_total_of_any_size_never_kills_the_job(tmp_path):
    app = make(tmp_path)
    with LiveServer(app) as srv:
        for total in ("1" + "0" * 400, "-5", "0"):
            r = httpx.get(f"{srv.url}/trustimport/load?total={total}", headers=DS, timeout=20)
            assert r.status_code == 200, r.text
        wait_until(lambda: not any(j.active for j in app.jobs(TrustImport)), what="the three jobs to end")
        assert [j.state for j in app.jobs(TrustImport)] == ["done"] * 3 and app.instance(TrustImport).done == 3

# 7. error text

def test_an_unexpected_errors_text_is_a_reference_unless_debug(tmp_path, caplog):
    c = client(make(tmp_path))
    with caplog.at_level(logging.WARNING, "starmodel_nb"): r = c.get("/trustbroken/explode", headers=DS)
    ref = re.search(r"reference ([0-9a-f]{8})", r.text)
    assert r.status_code == 200 and ref and "/srv" not in r.text and "token-9f3a2b" not in r.text
    assert f"reference {ref[1]}" in caplog.text and "token-9f3a2b" in caplog.text and "Traceback" in caplog.text
    assert "Amount must be positive" in c.get("/trustbroken/refuse", headers=DS).text          # a refusal: said as it is
    assert "token-9f3a2b" in client(make(tmp_path, debug="on")).get("/trustbroken/explode", headers=DS).text
    with pytest.raises(ValueError, match="debug = 'maybe'"): make(tmp_path, debug="maybe")

def test_a_notebooks_serve_shows_the_error_in_full(tmp_path):
    from starmodel_nb.notebook import serve
    srv = serve(make(tmp_path), name="trust-debug")
    try: assert "token-9f3a2b" in httpx.get(f"http://127.0.0.1:{srv.port}/trustbroken/explode", headers=DS, timeout=20).text
    finally: srv.stop()

# 8. the admin at scale

def test_the_admins_list_of_10000_sessions_reads_one_page(tmp_path, monkeypatch):
    class TrustCart(Entity):
        items: int = 0
    app = create_app([TrustCart], admin=True, secret_key=SECRET)
    repo = app.sm.repo_for(TrustCart)
    async def fill():
        for i in range(10_000): await repo.save(TrustCart, f"session-{i:05}", TrustCart(items=i), 0)
    app.call(fill())
    monkeypatch.setattr(type(repo), "list", lambda *a: pytest.fail("the admin read every instance"))
    admin = TestClient(app, base_url="http://127.0.0.1:5001", client=("127.0.0.1", 1))
    page = admin.get("/admin/trustcart?page=2&partial=1").text
    assert "10000 live instances" in page and "page 2 of 200" in page and page.count("<tr>") == 51
    assert "<td>9949</td>" in page and "<td>9899</td>" not in page
    assert "<td>10000</td>" in admin.get("/admin").text
    from starmodel_nb.adapters.web.admin import short_key
    assert admin.get(f"/admin/trustcart/{short_key('session-00042')}").status_code == 200
