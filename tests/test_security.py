"The security defaults, each as a test: refusals, validation, no mass assignment, size caps, rollback, no ids leaked."
import json, pytest
from starlette.testclient import TestClient
from starmodel_nb import Entity, event, create_app

class Vault(Entity):
    balance: int = 100
    owner: str = "alice"
    @event
    def withdraw(self, amount: int):
        self.balance -= amount
        if self.balance < 0: raise ValueError("Insufficient funds")
    @event(method="post")
    def rename(self, owner: str): self.owner = owner
    @property
    def secret(self): return "s3cret"
    def _private(self): self.balance = 0
    def helper(self): self.balance = 0

DS = {"Datastar-Request": "true"}

@pytest.fixture
def app(): return create_app([Vault], secret_key="security-tests-secret-key-of-at-least-32-bytes")

@pytest.fixture
def cli(app): return TestClient(app, headers=DS)

def state(cli):
    page = cli.get("/vault").text
    start = page.index('data-signals="') + len('data-signals="')
    return json.loads(page[start:page.index('"', start)].replace("&quot;", '"'))["vault"]

@pytest.mark.parametrize("headers", [{}, {"Datastar-Request": "false"}, {"Datastar-Request": "1"}])
def test_events_need_the_datastar_header(app, headers):
    r = TestClient(app).get("/vault/withdraw?amount=1", headers=headers)
    assert r.status_code == 403 and "Datastar-Request" in r.text

@pytest.mark.parametrize("headers", [{"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"},
    {"Origin": "https://evil.example"}, {"Origin": "null"}, {"Sec-Fetch-Mode": "navigate"}])
def test_foreign_requests_are_refused(cli, headers):
    assert cli.get("/vault/withdraw?amount=1", headers=headers).status_code == 403
    assert cli.post("/vault/rename", json={"owner": "mallory"}, headers=headers).status_code == 403
    assert state(cli) == {"balance": 100, "owner": "alice"}

def test_same_origin_is_accepted(cli):
    r = cli.get("/vault/withdraw?amount=1", headers={"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"})
    assert r.status_code == 200 and state(cli)["balance"] == 99

@pytest.mark.parametrize("name", ["_private", "__init__", "__class__", "model_dump", "model_validate", "secret",
                                  "helper", "balance", "nope", "__dict__"])
def test_only_registered_events_dispatch(cli, name):
    r = cli.get(f"/vault/{name}")
    assert r.status_code == 404 and r.text == "Not found."
    assert state(cli)["balance"] == 100

def test_unknown_entity_is_404(cli):
    assert cli.get("/nothing/withdraw").status_code == 404 and cli.get("/nothing").status_code == 404

@pytest.mark.parametrize("query,field", [("amount=ten", "amount"), ("", "amount"), ("amount=1&balance=1000000", "balance"),
                                         ("amount=1&_x=1", "_x"), ("amount=1&__class__=x", "__class__")])
def test_bad_parameters_are_422_naming_the_field(cli, query, field):
    r = cli.get(f"/vault/withdraw?{query}")
    assert r.status_code == 422 and field in r.text
    j = cli.get(f"/vault/withdraw?{query}", headers={"Accept": "application/json"}).json()
    assert any(e["loc"] == field for e in j["detail"])
    assert state(cli)["balance"] == 100

def test_client_data_never_sets_fields(cli):
    "Signals for fields that are not parameters are ignored; JSON keys that are not parameters set nothing."
    sig = json.dumps({"vault": {"balance": 10**6, "amount": 5, "owner": "mallory"}})
    assert cli.get("/vault/withdraw", params={"datastar": sig}).status_code == 200
    assert state(cli) == {"balance": 95, "owner": "alice"}
    assert cli.post("/vault/rename", json={"vault": {"owner": "bob", "balance": 10**6}}).status_code == 200
    assert state(cli) == {"balance": 95, "owner": "bob"}
    assert cli.post("/vault/rename", json={"owner": "carol", "_balance": 1}).status_code == 422

def test_wrong_method_is_405(cli):
    r = cli.post("/vault/withdraw?amount=1")
    assert r.status_code == 405 and r.headers["allow"] == "GET"

def test_bad_json_is_422(cli):
    r = cli.post("/vault/rename", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and "invalid JSON" in r.text

def test_body_over_1mb_is_413(cli):
    r = cli.post("/vault/rename", content=b"x" * (1024 * 1024 + 1), headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    def chunks():
        for _ in range(20): yield b"y" * 100_000
    assert cli.post("/vault/rename", content=chunks(), headers={"Content-Type": "application/json"}).status_code == 413
    assert cli.get("/vault/withdraw?amount=1").status_code == 200  # still serving

def test_long_query_is_414(cli):
    assert cli.get("/vault/withdraw?amount=1&pad=" + "x" * 9000).status_code == 414

def test_failing_event_rolls_back_and_reports(cli):
    cli.get("/vault/withdraw?amount=30")
    r = cli.get("/vault/withdraw?amount=500")
    assert r.status_code == 200 and "Insufficient funds" in r.text and "uk-alert" in r.text
    assert state(cli)["balance"] == 70
    assert cli.get("/vault/withdraw?amount=5").status_code == 200 and state(cli)["balance"] == 65

def test_session_responses_are_not_cached(cli):
    for r in (cli.get("/vault"), cli.get("/vault/withdraw?amount=1"), cli.get("/vault/withdraw?amount=x")):
        assert r.headers["cache-control"] == "no-store"

def test_no_ids_reach_the_client(app, cli):
    cli.get("/vault/withdraw?amount=1")
    keys = [k for k, *_ in app.instances(Vault)]
    assert len(keys) == 1
    bodies = cli.get("/vault").text + cli.get("/vault/withdraw?amount=1").text
    assert keys[0] not in bodies and '"vault": {"balance"' in bodies.replace("&quot;", '"')

def test_output_is_escaped(cli):
    cli.post("/vault/rename", json={"owner": "<img src=x onerror=alert(1)>"})
    page = cli.get("/vault").text
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page

def test_no_cors_grant_for_foreign_origins(cli):
    r = cli.get("/vault", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers
    r = cli.options("/vault/withdraw", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in r.headers
