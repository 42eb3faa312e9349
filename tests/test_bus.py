"The cross-process buses on real services: `RedisStreamBus` (delivery, order, cap, replay, outages) and `PostgresBus`."
import asyncio, json, logging, os, shutil, statistics, subprocess, sys, time, uuid
from contextlib import contextmanager
import pytest
from support import NO_PG, NO_REDIS, PG, REDIS, ROOT, TcpRelay, arun, free_port, fresh_pg_database, stays, wait_until
from starmodel_nb.app.bus import EntityChanged
from starmodel_nb.app.uow import Unavailable

needs_redis = pytest.mark.skipif(not REDIS, reason=NO_REDIS)
needs_pg = pytest.mark.skipif(not PG, reason=NO_PG)
needs_redis_server = pytest.mark.skipif(not shutil.which("redis-server"), reason="no redis-server binary (apt-get install redis-server)")


def change(v: int, entity: str = "counter", **kw) -> EntityChanged:
    return EntityChanged(entity, "global", v, {"count": v}, {"count": v}, "global", **kw)

async def listening(*buses):
    "Return once every bus's listener hears changes: each publishes one, and every bus hears them all (then forgotten)."
    heard = {id(b): set() for b in buses}
    offs = [b.subscribe(lambda e, b=b: heard[id(b)].add(e.key)) for b in buses]
    # a listener reads on from where it starts: a change sent before every reader knows its place could miss one
    assert await settle(lambda: all(b._ready is not None and b._ready.is_set() for b in buses), timeout=30)
    for i, b in enumerate(buses): await b.publish(EntityChanged("warmup", f"w{i}", 0, {}, {}, "global"))
    assert await settle(lambda: all(len(h) == len(buses) for h in heard.values()), timeout=30)   # a busy machine may be slow
    for off in offs: off()

async def settle(cond, timeout: float = 5.0) -> bool:
    "Wait until `cond()` holds, at most `timeout` seconds; its last value."
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline: await asyncio.sleep(0.005)
    return cond()

@contextmanager
def stream():
    "A stream name of this test's own on the test Redis, deleted afterwards."
    import redis
    name = f"sm:test:{uuid.uuid4().hex[:8]}:changes"
    try: yield name
    finally:
        with redis.Redis.from_url(REDIS) as r: r.delete(name)

def sends(bus) -> list:
    "The changes the calling task tries to send on `bus` from now on (its calls of the outbox's `put`; not the reader's)."
    me, tried, put = asyncio.current_task(), [], bus.outbox.put
    def counted(data):
        if asyncio.current_task() is me: tried.append(data)
        return put(data)
    bus.outbox.put = counted
    return tried

def redis_client(url: str = None):
    from redis.asyncio import Redis
    return Redis.from_url(url or REDIS, socket_connect_timeout=1, socket_timeout=3)

# --- Redis Stream bus -------------------------------------------------------------------------------------------

@needs_redis
def test_two_buses_on_separate_clients_see_each_others_changes_in_order():
    from starmodel_nb.adapters.bus.redis import RedisStreamBus
    async def go(name):
        a, b = RedisStreamBus(redis_client(), stream=name), RedisStreamBus(redis_client(), stream=name)
        await listening(a, b)
        got_a, got_b = [], []
        a.subscribe(lambda e: got_a.append((e.entity, e.version)))
        b.subscribe_positions(lambda pos, e: got_b.append((pos, e.entity, e.version)))
        sent = []
        for v in range(40):
            bus, who = (a, "a") if v % 3 else (b, "b")   # interleaved, as two instances serving browsers
            await bus.publish(change(v, who)); sent.append((who, v))
        assert await settle(lambda: len(got_a) == len(got_b) == 40)
        await asyncio.to_thread(stays, lambda: (len(got_a), len(got_b)), what="what the buses heard")   # nothing more comes: each change arrived once
        kept = [x for x in await a.since("0-0") if x[1].entity != "warmup"]
        for bus in (a, b): await bus.close(); await bus.client.aclose()
        return sent, got_a, got_b, kept
    with stream() as name: sent, got_a, got_b, kept = arun(go(name))
    assert got_a == sent                                     # its own and the other's, in publishing order
    assert [x[1:] for x in got_b] == sent
    assert [p for p, *_ in got_b] == [p for p, _ in kept]    # the positions handed out are the stream's ids

@needs_redis
def test_a_thousand_changes_arrive_exactly_once_each_in_order():
    from starmodel_nb.adapters.bus.redis import RedisStreamBus
    async def go(name):
        a, b = RedisStreamBus(redis_client(), stream=name), RedisStreamBus(redis_client(), stream=name)
        await listening(a, b)
        got_a, got_b = [], []
        a.subscribe(lambda e: got_a.append(e.version)); b.subscribe(lambda e: got_b.append(e.version))
        t0 = time.perf_counter()
        for v in range(1000): await a.publish(change(v))
        publish_s = time.perf_counter() - t0
        assert await settle(lambda: len(got_b) >= 1000 and len(got_a) >= 1000, 20)
        await asyncio.to_thread(stays, lambda: (len(got_a), len(got_b)), what="what the buses heard")
        for bus in (a, b): await bus.close(); await bus.client.aclose()
        return got_a, got_b, publish_s
    with stream() as name: got_a, got_b, publish_s = arun(go(name))
    assert got_a == got_b == list(range(1000))
    print(f"\n1000 sequential publishes: {publish_s * 1000:.0f} ms ({publish_s:.3f} ms each)")

@needs_redis
def test_publish_to_handler_latency_across_two_clients():
    """A figure (printed): the time from `publish` on one client to the handler on another. What makes it small is checked:
    the reader waits in Redis and each entry wakes it. Its reads block for 10 minutes, far past the hang guard of each
    wait here, and none comes back empty (no polling)."""
    from starmodel_nb.adapters.bus.redis import RedisStreamBus
    async def go(name):
        a, b = RedisStreamBus(redis_client(), stream=name), RedisStreamBus(REDIS, stream=name, block_ms=600_000)
        reads, xread = [], b.client.xread
        async def counted(*args, **kw):
            reads.append(got := await xread(*args, **kw))
            return got
        b.client.xread = counted
        await listening(a, b)
        arrived = {}
        b.subscribe(lambda e: arrived.setdefault(e.version, time.perf_counter()))
        await b.publish(change(-1)); assert await settle(lambda: -1 in arrived)
        lat = []
        for v in range(300):
            t0 = time.perf_counter(); await a.publish(change(v))
            assert await settle(lambda: v in arrived)
            lat.append(arrived[v] - t0)
        for bus in (a, b): await bus.close()
        await a.client.aclose()
        return sorted(lat), reads
    with stream() as name: lat, reads = arun(go(name))
    med, p95 = statistics.median(lat) * 1000, lat[int(len(lat) * 0.95)] * 1000
    print(f"\nRedis publish -> handler on another client: median {med:.2f} ms, p95 {p95:.2f} ms, max {lat[-1] * 1000:.2f} ms")
    assert len(reads) >= 2 and all(reads)                       # each read ended by entries, none by its block running out

CHILD = r"""
import asyncio, json, sys
from redis.asyncio import Redis
from starmodel_nb.adapters.bus.redis import RedisStreamBus
from starmodel_nb.app.bus import EntityChanged
async def main(url, name, n):
    bus, got = RedisStreamBus(Redis.from_url(url), stream=name), []
    bus.subscribe(lambda e: got.append([e.entity, e.version]))
    await bus.position(); bus.start(); await bus._ready.wait()   # its reader knows where it reads from
    print("ready", flush=True)
    while sum(g[0] == "parent" for g in got) < n: await asyncio.sleep(0.005)
    for v in range(n): await bus.publish(EntityChanged("child", "global", v, {}, {}, "global"))
    while len(got) < 2 * n: await asyncio.sleep(0.005)
    from support import stays
    await asyncio.to_thread(stays, lambda: len(got), what="what the child heard")   # nothing more comes
    print(json.dumps(got), flush=True)
    await bus.close()
asyncio.run(main(*sys.argv[1:3], int(sys.argv[3])))
"""

@needs_redis
def test_two_processes_see_each_others_changes_in_order():
    from starmodel_nb.adapters.bus.redis import RedisStreamBus
    n = 25
    async def go(name):
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
        child = await asyncio.create_subprocess_exec(sys.executable, "-c", CHILD, REDIS, name, str(n), env=env, stdout=subprocess.PIPE)
        bus, got = RedisStreamBus(redis_client(), stream=name), []
        bus.subscribe(lambda e: got.append([e.entity, e.version]))
        assert (await asyncio.wait_for(child.stdout.readline(), 20)).strip() == b"ready"
        for v in range(n): await bus.publish(EntityChanged("parent", "global", v, {}, {}, "global"))
        theirs = json.loads(await asyncio.wait_for(child.stdout.readline(), 20))
        assert await settle(lambda: len(got) == 2 * n)
        await asyncio.wait_for(child.wait(), 10)
        await bus.close(); await bus.client.aclose()
        return got, theirs
    with stream() as name: ours, theirs = arun(go(name))
    expected = [["parent", v] for v in range(n)] + [["child", v] for v in range(n)]
    assert ours == theirs == expected

@needs_redis
def test_garbage_entries_are_skipped_with_a_log_line(caplog):
    from starmodel_nb.adapters.bus.redis import RedisStreamBus
    async def go(name):
        bus, got = RedisStreamBus(redis_client(), stream=name), []
        bus.subscribe(got.append)
        await bus.publish(change(1))
        for junk in [{"evt": "not json"}, {"evt": json.dumps({"entity": "x"})}, {"other": "field"},
                     {"evt": json.dumps({**change(2).to_dict(), "version": "2"})}, {"evt": b"\xff\xfe"}]:
            await bus.client.xadd(name, junk)
        await bus.publish(change(3))
        assert await settle(lambda: len(got) == 2)
        replay = await bus.since("0-0")
        await bus.close(); await bus.client.aclose()
        return got, replay
    with caplog.at_level(logging.WARNING, logger="starmodel_nb"), stream() as name: got, replay = arun(go(name))
    assert [e.version for e in got] == [1, 3]
    assert [e.version for _, e in replay] == [1, 3]
    skipped = [r.getMessage() for r in caplog.records if "skipped entry" in r.getMessage()]
    assert len(skipped) == 10                    # five entries, each once when read live and once when replayed
    assert "wrong types: ['version']" in skipped[3]

@needs_redis
def test_the_stream_is_capped_at_maxlen():
    from starmodel_nb.adapters.bus.redis import RedisStreamBus
    async def go(approx, exact):
        a = RedisStreamBus(redis_client(), stream=approx, maxlen=100)
        for v in range(1000): await a.publish(change(v))
        b = RedisStreamBus(redis_client(), stream=exact, maxlen=50, exact=True)
        for v in range(300): await b.publish(change(v))
        out = await a.client.xlen(approx), await b.client.xlen(exact), [e.version for _, e in await b.since("0-0")]
        for bus in (a, b): await bus.client.aclose()
        return out
    with stream() as approx, stream() as exact: n_approx, n_exact, kept = arun(go(approx, exact))
    assert 100 <= n_approx <= 200                # MAXLEN ~: whole nodes (100 entries each by default) are dropped
    assert n_exact == 50 and kept == list(range(250, 300))

@needs_redis
def test_since_returns_exactly_the_entries_after_a_position():
    from starmodel_nb.adapters.bus.redis import RedisStreamBus
    async def go(name):
        bus = RedisStreamBus(redis_client(), stream=name)
        assert await bus.position() == "0-0"
        marks = []
        for v in range(10):
            await bus.publish(change(v)); marks.append(await bus.position())
        out = {i: [e.version for _, e in await bus.since(marks[i])] for i in (0, 4, 9)}
        out["start"] = [e.version for _, e in await bus.since("0-0")]
        out["limit"] = [e.version for _, e in await bus.since(marks[4], limit=2)]
        with pytest.raises(ValueError): await bus.since("1-0 +")
        with pytest.raises(ValueError): await bus.since("-")
        await bus.client.aclose()
        return out, marks
    with stream() as name: out, marks = arun(go(name))
    assert out == {0: list(range(1, 10)), 4: list(range(5, 10)), 9: [], "start": list(range(10)), "limit": [5, 6]}
    assert marks == sorted(marks, key=lambda m: tuple(map(int, m.split("-")))) and len(set(marks)) == 10

@needs_redis_server
def test_redis_stopped_publish_keeps_the_change_and_the_reader_recovers_and_sends_it_after_restart(own_redis, caplog):
    from starmodel_nb.adapters.bus.redis import RedisStreamBus
    port = own_redis.port
    async def go():
        bus, got = RedisStreamBus(f"redis://127.0.0.1:{port}/0", stream="sm:fault:changes", block_ms=500), []
        bus.subscribe(lambda e: got.append(e.version))
        await bus.publish(change(1))
        assert await settle(lambda: got == [1])
        own_redis.stop()
        tried = sends(bus)
        await bus.publish(change(2))                              # committed elsewhere: kept, not an error
        assert bus.healthy is False and len(bus.outbox) == 1
        tries = len(tried)                                        # none if the reader saw Redis go first (it then sends it)
        await asyncio.sleep(1.0)                                  # the reader retries with backoff meanwhile
        own_redis.start()                                         # same port, empty: no persistence
        assert await settle(lambda: bus.healthy, 5)
        await bus.publish(change(3))
        assert await settle(lambda: got == [1, 2, 3])             # the kept change first, then the new one
        await bus.close()
        return tries
    with caplog.at_level(logging.WARNING, logger="starmodel_nb"): tries = arun(go())
    assert tries <= 1                                             # quick: kept after one try at most, none retried
    lines = [r.getMessage() for r in caplog.records]
    assert sum("unreachable" in m for m in lines) == 1           # logged once, however many retries
    assert sum("reachable again" in m for m in lines) == 1

@needs_redis_server
def test_entries_published_during_a_network_cut_are_not_lost(own_redis):
    "The reader reaches Redis through a relay that is cut and restored; another client keeps publishing meanwhile."
    from starmodel_nb.adapters.bus.redis import RedisStreamBus
    port = own_redis.port
    relay = TcpRelay(("127.0.0.1", port))
    async def go():
        cut = RedisStreamBus(redis_client(f"redis://127.0.0.1:{relay.port}/0"), stream="sm:cut:changes", block_ms=500)
        other = RedisStreamBus(redis_client(f"redis://127.0.0.1:{port}/0"), stream="sm:cut:changes")
        got = []
        cut.subscribe(lambda e: got.append(e.version))
        await cut.publish(change(0))                              # once its own is heard, the reader is surely reading
        assert await settle(lambda: got == [0])
        relay.down()
        assert await settle(lambda: not cut.healthy, 5)
        for v in range(1, 21): await other.publish(change(v))    # the rest of the world carries on
        tried = sends(cut)
        await cut.publish(change(99))                             # kept, at once: the reader is retrying
        assert tried == [] and len(cut.outbox) == 1               # not even tried: the reader sends it once back
        assert await asyncio.to_thread(stays, lambda: list(got), what="what the cut reader heard") == [0]
        relay.up()
        assert await settle(lambda: cut.healthy and len(got) >= 21, 8)   # healthy: what it kept is on the stream
        await other.publish(change(21))
        assert await settle(lambda: len(got) >= 23)                      # all 23 (the kept one and the new one included) ...
        await asyncio.to_thread(stays, lambda: len(got), what="what the cut reader heard")   # ... and no more
        for bus in (cut, other): await bus.close(); await bus.client.aclose()
        return got
    try: got = arun(go())
    finally: relay.down()
    assert got == [*range(21), 99, 21]                            # nothing missed, nothing twice, in order

@needs_redis
def test_close_stops_the_reader_and_leaves_a_given_client_open():
    from starmodel_nb.adapters.bus.redis import RedisStreamBus
    async def go(name):
        client = redis_client()
        bus, got = RedisStreamBus(client, stream=name), []
        bus.subscribe(got.append)
        await bus.publish(change(1)); assert await settle(lambda: len(got) == 1)
        was = bus.running
        await bus.close()
        await RedisStreamBus(redis_client(), stream=name).publish(change(2))
        await asyncio.to_thread(stays, lambda: len(got), what="what the closed bus heard")
        out = was and not bus.running, len(got), await client.ping()
        await client.aclose()
        return out
    with stream() as name: assert arun(go(name)) == (True, 1, True)

# --- Postgres LISTEN/NOTIFY bus ---------------------------------------------------------------------------------

@needs_pg
def test_postgres_two_buses_see_each_others_changes_in_order():
    from starmodel_nb.adapters.bus.postgres import PostgresBus
    async def go(url):
        a, b = PostgresBus(url), PostgresBus(url)
        await listening(a, b)
        got_a, got_b, at = [], [], {}
        a.subscribe(lambda e: got_a.append((e.entity, e.version)))
        b.subscribe(lambda e: (got_b.append((e.entity, e.version)), at.__setitem__(e.version, time.perf_counter())))
        sent, lat = [], []
        for v in range(60):
            bus, who = (a, "a") if v % 3 else (b, "b")
            t0 = time.perf_counter(); await bus.publish(change(v, who)); sent.append((who, v))
            assert await settle(lambda: len(got_a) == len(got_b) == v + 1)
            lat.append(at[v] - t0)
        await asyncio.to_thread(stays, lambda: (len(got_a), len(got_b)), what="what the buses heard")
        for bus in (a, b): await bus.close()
        return sent, got_a, got_b, sorted(lat)
    with fresh_pg_database("sm_bus") as url: sent, got_a, got_b, lat = arun(go(url))
    assert got_a == got_b == sent
    print(f"\nPostgres publish -> handler (b): median {statistics.median(lat) * 1000:.2f} ms, max {lat[-1] * 1000:.2f} ms")

@needs_pg
def test_postgres_a_change_over_8000_bytes_is_read_from_the_log_which_is_capped():
    from starmodel_nb.adapters.bus.postgres import PostgresBus
    import psycopg
    async def go(url):
        a, b = PostgresBus(url, keep=50), PostgresBus(url)
        await listening(a, b)
        got = []
        b.subscribe(got.append)
        bigs = [EntityChanged("product", str(i), 1, {"notes": "é" * 6000}, {"notes": "é" * 6000, "i": i}, "global") for i in range(5)]
        await a.publish(change(1))
        for e in bigs: await a.publish(e)
        await a.publish(change(2))
        assert await settle(lambda: len(got) == 7)
        async with await psycopg.AsyncConnection.connect(url) as c:
            q = "SELECT count(*), max(length(evt)), max(id) FROM starmodel_bus"
            rows = await (await c.execute(q)).fetchone()
            for v in range(3, 3 + 200 - rows[2]): await a.publish(change(v))   # row 200 trims what is more than `keep` old
            trimmed = await (await c.execute(q)).fetchone()
        for bus in (a, b): await bus.close()
        return got, bigs, rows, trimmed
    with fresh_pg_database("sm_bus") as url: got, bigs, rows, trimmed = arun(go(url))
    assert got[:7] == [change(1), *bigs, change(2)]              # whole, in order, small and big alike
    assert rows[0] == rows[2] >= 7 and rows[1] > 8000            # every change is a row of the log (`listening`'s too)
    assert trimmed[2] == 200 and trimmed[0] == 50                # only the last `keep` rows are kept

def others_gone(db: str) -> bool:
    "Whether no connection to `db` is left but the bus listeners'."
    import psycopg
    with psycopg.connect(PG, autocommit=True) as c:
        q = "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND application_name <> 'starmodel-bus-listener'"
        return c.execute(q, (db,)).fetchone()[0] == 0

@needs_pg
def test_postgres_listener_reconnects_after_its_backend_is_terminated(caplog):
    from starmodel_nb.adapters.bus.postgres import PostgresBus
    import psycopg
    async def go(url, db):
        listener, publisher = PostgresBus(url, channel="sm_term"), PostgresBus(url, channel="sm_term")
        await listening(listener)                                 # the publisher does not listen: one listener to cut
        got = []
        listener.subscribe(lambda e: got.append(e.version))
        await publisher.publish(change(1)); assert await settle(lambda: got == [1])
        q = "SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name = 'starmodel-bus-listener'"
        async with await psycopg.AsyncConnection.connect(PG, autocommit=True) as admin:
            (pid,), = await (await admin.execute(q, (db,))).fetchall()
            await admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            assert await settle(lambda: any("lost its connection" in r.getMessage() for r in caplog.records))
            assert await settle(lambda: listener.healthy, 5)
            (pid2,), = await (await admin.execute(q, (db,))).fetchall()
            # and the publisher's own connection: cut too, the next publish still goes through (one retry)
            await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid() "
                                "AND application_name <> 'starmodel-bus-listener'", (db,))
        await asyncio.to_thread(wait_until, lambda: others_gone(db), what="the publisher's connection to end")
        await publisher.publish(change(2))
        assert await settle(lambda: got == [1, 2])
        for bus in (listener, publisher): await bus.close()
        return pid, pid2
    with caplog.at_level(logging.WARNING, logger="starmodel_nb"), fresh_pg_database("sm_bus") as url:
        pid, pid2 = arun(go(url, url.rsplit("/", 1)[1]))
    assert pid != pid2
    assert any("connected again" in r.getMessage() for r in caplog.records)

@needs_pg
def test_postgres_unreachable_keeps_the_change_quickly():
    from starmodel_nb.adapters.bus.postgres import PostgresBus
    async def go():
        relay_dead = TcpRelay(("127.0.0.1", 1)); relay_dead.down()   # a port nothing listens on
        bus = PostgresBus(f"postgresql://postgres@127.0.0.1:{relay_dead.port}/x")
        tries, connect = [], bus._connection
        async def counted():
            tries.append(1); return await connect()
        bus._connection = counted
        await bus.publish(change(1))
        published = len(tries)
        with pytest.raises(Unavailable): await bus.position()
        return published, len(tries), bus.healthy, len(bus.outbox)
    published, tries, healthy, kept = arun(go())
    assert healthy is False and kept == 1
    assert (published, tries) == (1, 2)                           # quickly: one try to connect each, nothing retried or waited for

@needs_pg
def test_postgres_a_listener_cut_off_reads_what_it_missed_and_sends_what_it_kept():
    "The listening bus reaches Postgres through a relay that is cut and restored; another bus keeps publishing meanwhile."
    from starmodel_nb.adapters.bus.postgres import PostgresBus
    from urllib.parse import urlsplit
    async def go(url):
        u = urlsplit(url)
        relay = TcpRelay((u.hostname, u.port or 5432))
        cut = PostgresBus(url.replace(f"{u.hostname}:{u.port or 5432}", f"127.0.0.1:{relay.port}"), keepalive=0.5)
        other = PostgresBus(url)
        got, turns = [], []
        cut.subscribe_positions(lambda ref, e: got.append((ref, e.version)))
        cut.watch(turns.append)
        await cut.publish(change(0)); assert await settle(lambda: len(got) == 1)
        try:
            relay.down()
            assert await settle(lambda: not cut.healthy, 5)
            for v in range(1, 21): await other.publish(change(v))     # the rest of the world carries on
            tried = sends(cut)
            await cut.publish(change(99))                             # kept, at once: the listener is reconnecting
            assert tried == []                                         # not even tried: the listener sends it once back
            assert await asyncio.to_thread(stays, lambda: (len(got), len(cut.outbox)), what="the cut bus") == (1, 1)
            relay.up()
            assert await settle(lambda: cut.healthy and len(got) >= 22, 10)
            await other.publish(change(21))
            assert await settle(lambda: len(got) >= 23)
        finally: relay.down()
        for bus in (cut, other): await bus.close()
        return got, turns
    with fresh_pg_database("sm_bus") as url: got, turns = arun(go(url))
    assert [v for _, v in got] == [*range(21), 99, 21]           # nothing missed, nothing twice, in order
    assert [r for r, _ in got] == list(range(1, 24)) and turns == [False, True]
