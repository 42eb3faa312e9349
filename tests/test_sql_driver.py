"""The SQL store's driver path (`persistence.sql_fast`) on SQLite and the real Postgres: what SQLAlchemy would give,
refusals in SQLAlchemy's words, dead connections replaced."""
import datetime, decimal, enum, uuid
import pytest
from sqlalchemy import JSON, Boolean, Column, DateTime, Enum, Integer, MetaData, Numeric, String, Table, Uuid, bindparam
from sqlalchemy import create_engine, insert, select, text, update
from starmodel_nb import Entity, Field
from starmodel_nb.adapters.persistence.sql import SQLRepository
from starmodel_nb.adapters.persistence.sql_fast import prepare, run
from starmodel_nb.adapters.persistence.sql_schema import make_engine
from support import arun

@pytest.fixture
def engine(db_url):
    eng = make_engine(db_url)
    yield eng
    eng.dispose()

class Mood(enum.Enum):
    calm = "c"
    loud = "l"

class Hopper(Entity, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(default="", unique=True)
    n: int = 0

def test_the_driver_reads_and_writes_what_sqlalchemy_does(engine):
    "Each kind of value a column converts (JSON, time zone, enum, decimal, UUID, bool) comes back as `execute` has it."
    meta = MetaData()
    kit = Table("driver_kit", meta, Column("id", Integer, primary_key=True), Column("name", String),
                Column("tags", JSON), Column("seen", DateTime(timezone=True)), Column("mood", Enum(Mood)),
                Column("ok", Boolean), Column("price", Numeric(8, 2)), Column("ref", Uuid), Column("v", Integer))
    meta.drop_all(engine)
    meta.create_all(engine)
    with engine.begin() as c: c.execute(insert(kit).values(id=1, name="a", tags=[], v=1))
    get = select(kit).where(kit.c.id == bindparam("k"))
    save = update(kit).where(kit.c.id == bindparam("k"), kit.c.v == bindparam("was")).returning(*kit.c)
    when = datetime.datetime(2026, 12, 2, 10, 30, tzinfo=datetime.timezone.utc)
    row = {"name": "b", "tags": {"x": [1, 2]}, "seen": when, "mood": Mood.loud, "ok": True,
           "price": decimal.Decimal("9.50"), "ref": uuid.UUID(int=7), "v": 2}
    params = {**row, "k": 1, "was": 1}
    saved, n = run(engine, prepare(save, engine.dialect, params, kit.c), params)
    with engine.connect() as c: core = dict(c.execute(get, {"k": 1}).mappings().one())
    assert (saved, n) == (core, 1)
    assert run(engine, prepare(get, engine.dialect, {"k": 1}, kit.c), {"k": 1})[0] == core
    converted = ("tags", "mood", "ok", "price", "ref")
    assert {k: core[k] for k in converted} == {k: row[k] for k in converted}
    assert run(engine, prepare(save, engine.dialect, params, kit.c), params) == (None, 0)   # no longer at version 1
    meta.drop_all(engine)

def test_a_save_the_database_refuses_is_said_in_its_words(engine):
    "A refusal on the driver goes through SQLAlchemy again: a `ValueError` with the database's words, not the SQL."
    Hopper.__table__.drop(engine, checkfirst=True)
    repo = SQLRepository(engine, [Hopper])
    repo.prepare()
    for code in ("a", "b"): arun(repo.insert(Hopper, Hopper(code=code)))
    obj, v = repo.get_blocking(Hopper, 2)
    obj.code = "a"
    with pytest.raises(ValueError) as e: repo.save_blocking(Hopper, 2, obj, v)
    assert "Refused by the database" in str(e.value) and "unique" in str(e.value).lower()
    assert "UPDATE" not in str(e.value) and "SET" not in str(e.value)
    obj.code, obj.n = "b", 1
    assert repo.save_blocking(Hopper, 2, obj, v) == v + 1                    # the connection still serves
    assert repo.get_blocking(Hopper, 2)[0].n == 1
    Hopper.__table__.drop(engine)

def test_a_pooled_connection_the_database_killed_is_replaced(pg_db):
    "Postgres ends every connection of the app (a restart, say): the next read and save still answer, on fresh ones."
    engine = make_engine(pg_db)
    try:
        Hopper.__table__.drop(engine, checkfirst=True)
        repo = SQLRepository(engine, [Hopper])
        repo.prepare()
        arun(repo.insert(Hopper, Hopper(code="z")))
        assert repo.get_blocking(Hopper, 1)[0].code == "z"                    # a pooled connection, now warm
        admin = create_engine("postgresql+psycopg://" + pg_db.split("://", 1)[1], isolation_level="AUTOCOMMIT")
        name = pg_db.rsplit("/", 1)[1]
        with admin.connect() as c:
            killed = c.execute(text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                    "WHERE datname = :d AND pid <> pg_backend_pid()"), {"d": name}).scalar()
        admin.dispose()
        assert killed >= 1
        obj, v = repo.get_blocking(Hopper, 1)
        obj.n = 5
        assert repo.save_blocking(Hopper, 1, obj, v) == v + 1
        assert repo.get_blocking(Hopper, 1)[0].n == 5
        engine.dispose()   # its own pooled connection was ended too
        Hopper.__table__.drop(engine)
    finally: engine.dispose()
