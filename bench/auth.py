"""Authentication (issue 15): what a sign-in costs the server against the KDF alone, and events signed in against anonymous.

1. Sign-in: for each scrypt cost N (2^12, 2^14 the default, 2^15), the median server time of `POST /login` (a right
   password, JSON, through the whole app in process: middleware, rate limit, the users table, the session rotated)
   and the median time of the KDF alone (`verify_password` on the same hash); the ratio should be close to 1: the
   KDF is the whole cost.
2. Events: requests per second of one event (`@event def bump`, 20 clients at once, in process) by a signed-in user on
   a `scope="user"` entity against an anonymous browser on the same entity as a session one; the ratio shows what
   knowing the user costs per request (the session read, the user looked up: from memory for 2 s at a time).

Run: `python bench/auth.py` (~30 s on 2 cores); `--logins K --events N`.
"""
import argparse, asyncio, statistics, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import httpx
from starmodel_nb import Entity, event, create_app
from starmodel_nb.adapters.persistence.users import verify_password

SECRET = "bench-auth-secret-key-of-at-least-32-bytes"
DS = {"Datastar-Request": "true"}

class Mine(Entity):                      # a user's own (signed in)
    model_config = {"scope": "user"}
    n: int = 0
    @event
    def bump(self): self.n += 1

class Theirs(Entity):                    # the same, per browser session (anonymous)
    n: int = 0
    @event
    def bump(self): self.n += 1

def client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("127.0.0.1", 1)), base_url="http://127.0.0.1:5001")

async def logins(n_cost: int, k: int, folder: str) -> tuple[float, float]:
    app = create_app([Mine, Theirs], auth=True, secret_key=SECRET, database_url=f"sqlite:///{folder}/login{n_cost}.db",
                     auth_scrypt_n=n_cost, auth_attempts=10 ** 6)
    app.users.add("ada", "ada-password-1")
    with app.users.engine.connect() as c:
        from sqlalchemy import text
        stored = c.execute(text("SELECT hash FROM sm_users")).scalar()
    server, kdf = [], []
    async with client(app) as c:
        await c.post("/login", json={"name": "ada", "password": "ada-password-1"})   # warm
        for _ in range(k):
            t = time.perf_counter(); r = await c.post("/login", json={"name": "ada", "password": "ada-password-1"}); server.append(time.perf_counter() - t)
            assert r.status_code == 200, r.text
            t = time.perf_counter(); verify_password("ada-password-1", stored); kdf.append(time.perf_counter() - t)
    return statistics.median(server), statistics.median(kdf)

async def events(n: int, folder: str, signed_in: bool, round_: int) -> float:
    app = create_app([Mine, Theirs], auth=True, secret_key=SECRET, database_url=f"sqlite:///{folder}/events{int(signed_in)}-{round_}.db", auth_scrypt_n=2 ** 12)
    clients = [client(app) for _ in range(20)]
    for i, c in enumerate(clients):
        if signed_in:
            app.users.add(f"user{i}", "user-password-1")
            await c.post("/login", json={"name": f"user{i}", "password": "user-password-1"})
        await c.get(("/mine" if signed_in else "/theirs") + "/bump", headers=DS)   # warm: the session, the instance
    path = ("/mine" if signed_in else "/theirs") + "/bump"
    async def run(c, m):
        for _ in range(m):
            r = await c.get(path, headers=DS); assert r.status_code == 200, r.text
    t = time.perf_counter()
    await asyncio.gather(*[run(c, n // len(clients)) for c in clients])
    rate = (n // len(clients)) * len(clients) / (time.perf_counter() - t)
    for c in clients: await c.aclose()
    return rate

async def main(a):
    with tempfile.TemporaryDirectory() as folder:
        print("sign-in: server time of POST /login against the KDF alone (medians)")
        for cost in (2 ** 12, 2 ** 14, 2 ** 15):
            s, k = await logins(cost, a.logins, folder)
            print(f"  scrypt N=2^{cost.bit_length() - 1}: login {s * 1000:7.1f} ms, KDF {k * 1000:7.1f} ms, login/KDF {s / k:.2f}")
        anon, auth = [], []
        for i in range(2):   # alternate, so a busy moment hurts both
            anon.append(await events(a.events, folder, False, i)); auth.append(await events(a.events, folder, True, i))
        print(f"events: anonymous {max(anon):7.0f} req/s, signed in {max(auth):7.0f} req/s, signed in / anonymous {max(auth) / max(anon):.2f}")

if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--logins", type=int, default=15); p.add_argument("--events", type=int, default=2000)
    asyncio.run(main(p.parse_args()))
