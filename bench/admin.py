"""The admin's live list at scale: `/admin/<entity>` (the page it polls every 2 s) with 100, 1,000 and 10,000 live
session instances, in memory and (with --redis URL) in Redis; the time per poll and its ratio to the 100-instance poll
in the same run. Flat means the poll costs one page whatever the number of sessions.

    python bench/admin.py                                  # memory: ~30 s
    python bench/admin.py --redis redis://127.0.0.1:6379/15
"""
import argparse, asyncio, statistics, time, uuid
from starlette.testclient import TestClient
from starmodel_nb import Entity, create_app

class BenchCart(Entity):
    items: int = 0
    note: str = "a basket"

class BenchRedisCart(Entity):
    model_config = {"store": "server_redis"}
    items: int = 0
    note: str = "a basket"

def polls(app, cls, n: int, rounds: int) -> float:
    "Fill the store with `n` instances of `cls`; the median ms of `rounds` admin polls (first page, then a middle one)."
    repo = app.sm.repo_for(cls)
    async def fill():
        have = await repo.count(cls)
        sem = asyncio.Semaphore(64)
        async def one(i):
            async with sem: await repo.save(cls, f"bench-session-{i:06}", cls(items=i), 0)
        await asyncio.gather(*[one(i) for i in range(have, n)])
    app.call(fill())
    admin = TestClient(app, base_url="http://127.0.0.1:5001", client=("127.0.0.1", 1))
    slug, times = cls.__name__.lower(), []
    for i in range(rounds):
        t = time.perf_counter()
        r = admin.get(f"/admin/{slug}?partial=1&page={1 + i % 2 * (n // 100)}")
        times.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200 and f"{n} live instances" in r.text, r.text[:300]
    return statistics.median(times)

def run(label: str, app, cls, sizes, rounds: int) -> None:
    got = {n: polls(app, cls, n, rounds) for n in sizes}
    base = got[sizes[0]]
    for n, ms in got.items(): print(f"{label:6} {n:>7,} live: {ms:7.1f} ms per poll   ({ms / base:.2f}x the {sizes[0]:,} poll)")

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100,1000,10000")
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--redis", default=None, help="a Redis URL (its keys deleted afterwards)")
    a = ap.parse_args()
    sizes = [int(x) for x in a.sizes.split(",")]
    secret = "bench-admin-secret-key-of-at-least-32-bytes"
    run("memory", create_app([BenchCart], admin=True, secret_key=secret, memory_cap=max(sizes) * 2), BenchCart, sizes, a.rounds)
    if a.redis:
        ns = f"bench{uuid.uuid4().hex[:6]}"
        app = create_app([BenchRedisCart], admin=True, secret_key=secret, redis_url=a.redis, app=ns, bus="local")
        try: run("redis", app, BenchRedisCart, sizes, a.rounds)
        finally:
            import redis
            r = redis.Redis.from_url(a.redis)
            for k in r.scan_iter(match=f"sm:{ns}:*", count=1000): r.delete(k)

if __name__ == "__main__": main()
