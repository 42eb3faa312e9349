"""Authentication (`auth = true`): sign-up and sign-in in Chromium, a `scope="user"` entity followed on two browsers of
one user and kept from another, guards (403), the admin for admins only (and loopback-only without auth), the sign-in
rate limit, sign-out closing that browser's live streams, the control plane acting as a user, and password hashes
never in a page, a JSON answer, the history or the logs."""
import json, logging, re
import pytest
from starlette.testclient import TestClient
from starmodel_nb import Entity, event, create_app
from support import stays, wait_until

SECRET = "auth-tests-secret-key-of-at-least-32-bytes-long"
DS = {"Datastar-Request": "true"}

class AuthTally(Entity):
    model_config = {"scope": "user"}
    n: int = 0
    @event
    def bump(self): self.n += 1

class AuthBoard(Entity):
    model_config = {"scope": "global"}
    note: str = ""
    @event(auth=True)
    def pin(self, note: str): self.note = note
    @event(auth="admin")
    def wipe(self): self.note = ""

class AuthVault(Entity):
    model_config = {"scope": "global", "auth": "admin"}
    gold: int = 0
    @event
    def deposit(self, amount: int = 1): self.gold += amount

def make(tmp_path, **kw):
    return create_app([AuthTally, AuthBoard, AuthVault], auth=True, admin=True, secret_key=SECRET, database_url=f"sqlite:///{tmp_path}/auth.db",
                      auth_scrypt_n=2 ** 12, **kw)

def api(app, ip="127.0.0.1"):   # a script: JSON bodies, no Datastar header
    return TestClient(app, client=(ip, 1), base_url="http://127.0.0.1:5001")

def test_sign_up_sign_in_guards_and_the_user_scope(tmp_path):
    app = make(tmp_path)
    ada, bob, anon = api(app), api(app), api(app)
    assert anon.get("/authtally/bump", headers=DS).status_code == 403
    assert anon.get("/authtally", follow_redirects=False).headers["location"] == "/login?next=/authtally"
    r = ada.post("/signup", json={"name": "Ada", "password": "ada-password-1"})
    assert r.status_code == 200 and r.json() == {"user": {"id": 1, "name": "ada", "roles": []}}
    assert api(app).post("/signup", json={"name": "ada", "password": "another-one"}).status_code == 422   # taken
    assert api(app).post("/signup", json={"name": "<b>x</b>", "password": "another-one"}).status_code == 422
    assert api(app).post("/signup", json={"name": "carl", "password": "short"}).json()["detail"] == "A password is 8 to 256 characters."
    assert api(app).post("/signup", json={"name": ["x"], "password": {"a": 1}}).status_code == 422
    assert bob.post("/signup", json={"name": "bob", "password": "bob-password-1"}).status_code == 200
    for _ in range(3): ada.get("/authtally/bump", headers=DS)
    bob.get("/authtally/bump", headers=DS)
    assert sorted((k, o.n) for k, o, _ in app.instances(AuthTally)) == [("user:1", 3), ("user:2", 1)]
    again = api(app)                                                    # ada's second device: the same instance
    assert again.post("/login", json={"name": "ADA", "password": "ada-password-1"}).status_code == 200
    assert '"n": 3' in again.get("/authtally").text.replace("&quot;", '"')
    assert ada.get("/authboard/pin?note=hello", headers=DS).status_code == 200
    assert anon.get("/authboard/pin?note=spam", headers=DS).status_code == 403
    w = bob.get("/authboard/wipe", headers=DS)
    assert (w.status_code, w.text) == (403, "This needs the role admin.")
    assert bob.get("/authvault/deposit", headers=DS).status_code == 403 and bob.get("/authvault").status_code == 403
    assert app.instance(AuthBoard).note == "hello"
    app.users.set_roles("bob", ["admin"])
    app.users._cache.clear()                                            # (its 2 s cache, for the test)
    assert bob.get("/authboard/wipe", headers=DS).status_code == 200 and bob.get("/authvault/deposit", headers=DS).status_code == 200

def test_the_control_plane_acts_as_a_user(tmp_path):
    app = make(tmp_path)
    app.users.add("ada", "ada-password-1"); app.users.add("root", "root-password-1", roles=["admin"])
    app.as_user("ada").fire(AuthTally, "bump"); app.as_user("ada").fire(AuthTally, "bump")
    assert app.as_user("ada").instance(AuthTally).n == 2 and app.as_user("root").instance(AuthTally).n == 0
    with pytest.raises(PermissionError, match="ada: This needs the role admin."): app.as_user("ada").fire(AuthBoard, "wipe")
    with pytest.raises(PermissionError): app.as_user("ada").edit(AuthVault)
    app.as_user("root").fire(AuthVault, "deposit", amount=5)
    assert app.instance(AuthVault).gold == 5
    with pytest.raises(LookupError): app.as_user("nobody")
    c = api(app)
    c.post("/login", json={"name": "ada", "password": "ada-password-1"})
    assert '"n": 2' in c.get("/authtally").text.replace("&quot;", '"')

def test_the_admin_is_for_admins_and_without_auth_for_this_machine(tmp_path):
    app = make(tmp_path)
    app.users.add("root", "root-password-1", roles=["admin"]); app.users.add("bob", "bob-password-1")
    far = api(app, ip="203.0.113.9")
    assert far.get("/admin").status_code == 403
    far.post("/login", json={"name": "bob", "password": "bob-password-1"})
    assert far.get("/admin").text == "The admin is for the admin role."
    root = api(app, ip="203.0.113.10")                                  # an admin may use it from anywhere
    root.post("/login", json={"name": "root", "password": "root-password-1"})
    assert root.get("/admin").status_code == 200
    plain = create_app([AuthBoard], admin=True, secret_key=SECRET, database_url=f"sqlite:///{tmp_path}/plain.db")
    assert api(plain, ip="203.0.113.9").get("/admin").status_code == 403 and api(plain).get("/admin").status_code == 200
    assert api(plain).get("/login").status_code == 404                  # no sign-in without auth

def test_sign_in_is_rate_limited(tmp_path):
    app = make(tmp_path, auth_attempts=3)
    app.users.add("ada", "ada-password-1")
    c = api(app, ip="198.51.100.7")
    got = [c.post("/login", json={"name": "ada", "password": f"wrong-{i}-password"}).status_code for i in range(5)]
    assert got == [401, 401, 401, 429, 429]
    r = c.post("/login", json={"name": "ada", "password": "ada-password-1"})   # even the right password waits
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    other = api(app, ip="198.51.100.8")                                 # the name from another address is not held
    assert other.post("/login", json={"name": "ada", "password": "ada-password-1"}).status_code == 200
    spread = [api(app, ip=f"203.0.113.{i}").post("/login", json={"name": "ada", "password": "wrong-password-x"}).status_code
              for i in range(14)]                                       # guesses spread over addresses: 4x the limit per name
    assert spread[:9] == [401] * 9 and spread[9:] == [429] * 5          # (3 counted from .7 already)
    assert api(app, ip="203.0.113.99").post("/login", json={"name": "ada", "password": "ada-password-1"}).status_code == 429
    assert other.post("/login", json={"name": "ada", "password": "ada-password-1"}).status_code == 200   # ...but not its owner's browser
    many = [api(app, ip="198.51.100.9").post("/login", json={"name": f"guess{i}", "password": "guess-password"}).status_code for i in range(13)]
    assert many[:12] == [401] * 12 and many[12] == 429                 # one address guessing many names: 4x the limit

def test_hashes_never_leave_the_users_table(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    app = make(tmp_path)
    c = api(app)
    c.post("/signup", json={"name": "ada", "password": "ada-password-1"})
    app.users.set_roles("ada", ["admin"]); app.users._cache.clear()
    c.get("/authtally/bump", headers=DS); c.get("/authboard/pin?note=hi", headers=DS)
    with app.users.engine.connect() as conn:
        from sqlalchemy import text
        hashed = conn.execute(text("SELECT hash FROM sm_users")).scalar()
    assert hashed.startswith("scrypt$")
    seen = [c.get(p).text for p in ("/", "/authtally", "/authboard", "/admin", "/admin/_history", "/admin/authtally", "/login", "/signup")]
    seen += [c.get(p, headers={"Accept": "application/json"}).text for p in ("/admin/_history",)]
    seen += [repr(app.history()), repr(app.users.list()), caplog.text]
    salt_and_key = hashed.split("$")[-2:]
    for s in seen: assert "scrypt$" not in s and not any(x in s for x in salt_and_key) and "ada-password-1" not in s

# --- in Chromium ---

@pytest.fixture
def server(live_server, assets, tmp_path):
    return live_server(create_app([AuthTally, AuthBoard, AuthVault], auth=True, admin=True, assets=assets, secret_key=SECRET,
                                  database_url=f"sqlite:///{tmp_path}/browser.db", auth_scrypt_n=2 ** 12))

def _value(page, want: int):
    page.wait_for_function(f"document.getElementById('sm-authtally-n').textContent.trim() === '{want}'", polling=50, timeout=20_000)

def _sign(page, url: str, kind: str, name: str, password: str):
    page.goto(f"{url}/{kind}?next=/authtally")
    page.fill("#sm-auth-name", name); page.fill("#sm-auth-password", password)
    page.click("#sm-auth button[type=submit]")
    page.wait_for_url(f"{url}/authtally", timeout=20_000)
    page.wait_for_selector("#sm-user", timeout=20_000)

def test_two_browsers_of_one_user_follow_and_another_user_is_kept_apart(browser, server):
    hub = server.server.config.app.sm.hub
    ada1, ada2, bob = (browser.new_context().new_page() for _ in range(3))
    _sign(ada1, server.url, "signup", "ada", "ada-password-1")
    assert "Signed in as ada" in ada1.inner_text("#sm-user")
    ada1.get_by_role("button", name="Bump").click(); _value(ada1, 1)
    _sign(ada2, server.url, "login", "ada", "ada-password-1"); _value(ada2, 1)
    _sign(bob, server.url, "signup", "bob", "bob-password-1"); _value(bob, 0)
    wait_until(lambda: hub.listeners("user:1") == 2, what="a live stream for each of ada's browsers")
    ada1.get_by_role("button", name="Bump").click()
    _value(ada1, 2); _value(ada2, 2)                                  # the other device follows
    bob.get_by_role("button", name="Bump").click(); _value(bob, 1)
    ada = lambda: tuple(p.inner_text("#sm-authtally-n").strip() for p in (ada1, ada2))
    assert stays(ada, page=ada1, what="ada's counts after bob's bump") == ("2", "2")   # bob's change is his own
    wipe = bob.evaluate("fetch('/authboard/wipe', {headers: {'Datastar-Request': 'true'}}).then(r => r.status)")
    assert wipe == 403
    assert bob.goto(server.url + "/admin").status == 403
    assert hub.listeners("user:1") == 2
    ada2.click("#sm-signout")
    ada2.wait_for_url(server.url + "/", timeout=20_000)
    ada2.wait_for_selector("#sm-auth-bar >> text=Sign in", timeout=20_000)
    wait_until(lambda: hub.listeners("user:1") == 1, what="the signed-out browser's stream to close")   # the other device keeps its own
    ada1.get_by_role("button", name="Bump").click(); _value(ada1, 3)
    assert hub.listeners("user:1") == 1
    assert ada2.goto(server.url + "/authtally").url.startswith(server.url + "/login")   # signed out: back to the sign-in
