"""Render time of starmodel_nb's generated UI against the same markup written by hand with MonsterUI, in one run.

- List: `list_content(Item, rows, ...)` for 50 in-memory records (7 columns, page 2 sorted by name, so the header has
  sort links and the pager both arrows) against a hand-written MonsterUI `Table` with the same columns, an "Open"
  link per row, sort links in the header and the same pager.
- Form: `record_form(Person)` (new) and `record_form(Person, obj)` (edit) for a 30-field entity (str, int and float
  with bounds, bool, Literal, Enum, date, datetime, Optional[str], list[str], Optional[int]) against a hand-written
  MonsterUI form with 30 labelled inputs of the same kinds and a Save button.

Both sides run in this process, build FastHTML components and serialise them with `to_xml(..., indent=False)`, as
starmodel_nb does. The hand-written side uses MonsterUI components (`LabelInput`, `LabelCheckboxX`, `LabelTextArea`,
`FormLabel`, `Table`, `Th`, `Td`, `Button`...), except for selects: MonsterUI's `Select` renders a `<uk-select>` web
component, so a native FastHTML `Select` with `uk-select` is used to keep the markup equivalent.
Each case is timed timeit-style (a batch of calls per measurement, gc off) for several rounds, alternating which side
goes first; the figure is the median per-call time. Target: starmodel / hand-written <= 1.5. The exit code is 0 whatever
the ratios. `--profile` adds the top functions of a cProfile run of starmodel_nb's side of each case.

Then, unless `--no-load`, page load in Chromium: the generated list page against a hand-written FastHTML + Datastar
page (`bench/ui_load.py`, which says how; target <= 1.2).

Run: `python bench/ui.py [--rounds 11] [--batch 0.1] [--profile] [--load-rounds 15] [--no-load]` (about 40 s).
"""
import argparse, cProfile, datetime as dt, enum, json, pstats, statistics, sys, timeit, typing
from types import SimpleNamespace
from fasthtml.common import *
from monsterui.all import *
import fasthtml.common as fh
from sqlalchemy import JSON, String
from starmodel_nb import Entity, Field
from starmodel_nb.adapters.ui.monster import MonsterUI, list_content

record_form = MonsterUI().record_form   # as an app renders its forms: with its own cache of field defaults

TARGET, URLENC = 1.5, "application/x-www-form-urlencoded"

# --- the entities --------------------------------------------------------------------------------------------------

class Colour(str, enum.Enum):
    red = "red"; green = "green"; blue = "blue"

class Status(enum.Enum):
    new = "new"; active = "active"; closed = "closed"

class Item(Entity, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = ""
    sku: str = ""
    qty: int = Field(default=0, ge=0)
    price: float = 0.0
    active: bool = True
    colour: Colour = Colour.red
    added: dt.date = dt.date(2024, 1, 1)

class Person(Entity, table=True):
    id: int | None = Field(default=None, primary_key=True)
    first_name: str = Field(min_length=2)
    last_name: str = Field(min_length=2)
    email: str = Field(max_length=120)
    company: str = ""
    street: str = ""
    city: str = ""
    age: int = Field(default=30, ge=0, le=150)
    floor: int = Field(default=0, ge=-5, le=200)
    seats: int = Field(default=1, ge=1, le=10)
    rating: int = Field(default=3, ge=1, le=5)
    height: float = 1.75
    weight: float = 70.0
    salary: float = Field(default=0, ge=0)
    discount: float = Field(default=0, ge=0, le=1)
    active: bool = True
    verified: bool = False
    newsletter: bool = False
    size: typing.Literal["S", "M", "L", "XL"] = Field(default="M", sa_type=String)
    tier: typing.Literal["free", "pro", "team"] = Field(default="free", sa_type=String)
    colour: Colour = Colour.red
    status: Status = Status.new
    born: dt.date | None = None
    joined: dt.date = dt.date(2024, 1, 1)
    last_login: dt.datetime | None = None
    next_call: dt.datetime | None = None
    nickname: str | None = None
    note: str | None = Field(default=None, max_length=500)
    tags: list[str] = Field(default_factory=list, sa_type=JSON)
    roles: list[str] = Field(default_factory=list, sa_type=JSON)
    manager_id: int | None = None

def items(n: int = 50) -> list:
    return [Item(id=i, name=f"Item {i:03}", sku=f"SKU-{i:05}", qty=i * 3, price=i * 1.25, active=i % 2 == 0,
                 colour=list(Colour)[i % 3], added=dt.date(2024, 1, 1) + dt.timedelta(days=i)) for i in range(1, n + 1)]

def person() -> Person:
    return Person(id=7, first_name="Ada", last_name="Lovelace", email="ada@example.com", company="Analytical", street="1 St",
                  city="London", age=36, floor=2, seats=4, rating=5, height=1.65, weight=55.5, salary=1000.0, discount=0.1,
                  active=True, verified=True, newsletter=False, size="S", tier="pro", colour=Colour.blue, status=Status.active,
                  born=dt.date(1815, 12, 10), joined=dt.date(2020, 5, 1), last_login=dt.datetime(2024, 6, 1, 9, 30),
                  next_call=dt.datetime(2024, 7, 1, 14, 0), nickname="Countess", note="Notes on the engine",
                  tags=["math", "poetry"], roles=["admin"], manager_id=1)

# --- starmodel_nb's side ---------------------------------------------------------------------------------------------

def sm_list(rows): return list_content(Item, rows, 2, True, "name", False, "")

# --- the hand-written side -------------------------------------------------------------------------------------------

COLS = [("name", "Name"), ("sku", "Sku"), ("qty", "Qty"), ("price", "Price"), ("active", "Active"), ("colour", "Colour"),
        ("added", "Added")]

def hand_row(o):
    return Tr(Td(o.name), Td(o.sku), Td(str(o.qty)), Td(str(o.price)), Td("true" if o.active else "false"), Td(o.colour.value),
              Td(o.added.isoformat()), Td(A("Open", href=f"/items/{o.id}", cls="uk-link")), id=f"item-{o.id}-row")

def hand_list(objs) -> str:
    head = [Th(A(t + (" ▲" if k == "name" else ""), href=f"/items?sort={k}" + ("&desc=True" if k == "name" else ""), cls="uk-link"))
            for k, t in COLS]
    pager = Div(A("← Previous", href="/items?page=1&sort=name", cls=("uk-btn", ButtonT.default, ButtonT.sm)), Span("Page 2", cls="text-sm"),
                A("Next →", href="/items?page=3&sort=name", cls=("uk-btn", ButtonT.default, ButtonT.sm)), cls="flex items-center gap-3")
    table = Table(Thead(Tr(*head, Th(""))), Tbody(*map(hand_row, objs)), cls=(TableT.divider, TableT.sm))
    return to_xml(Div(table, pager, id="items-list"), indent=False)

def txt(v):
    "A value as an input's text (what any hand-written form needs too)."
    if v is None or isinstance(v, str): return v
    if isinstance(v, enum.Enum): return v.value
    if isinstance(v, dt.datetime): return v.isoformat()[:16]
    if isinstance(v, dt.date): return v.isoformat()
    return json.dumps(v) if isinstance(v, list) else str(v)

def text(k, lbl, v, **kw): return LabelInput(lbl, id=k, value=txt(v), **kw)
def num(k, lbl, v, step=1, **kw): return LabelInput(lbl, id=k, type="number", value=txt(v), step=step, **kw)
def check(k, lbl, v): return Div(Input(type="hidden", name=k, value="false"), LabelCheckboxX(lbl, id=k, value="true", checked=v))
def area(k, lbl, v, rows=5): return LabelTextArea(lbl, value=txt(v) or "", id=k, rows=rows)
def choice(k, lbl, v, opts):
    cur = txt(v)
    return Div(FormLabel(lbl, fr=k), fh.Select(*[Option(o, value=o, selected=o == cur) for o in opts], id=k, name=k, cls="uk-select"),
               cls="space-y-2")

def hand_form(o, title: str, action: str, cancel: str) -> str:
    return to_xml(Div(H3(title), Form(
        text("first_name", "First name", o.first_name, required=True, minlength=2),
        text("last_name", "Last name", o.last_name, required=True, minlength=2),
        text("email", "Email", o.email, required=True, maxlength=120),
        text("company", "Company", o.company), text("street", "Street", o.street), text("city", "City", o.city),
        num("age", "Age", o.age, min=0, max=150), num("floor", "Floor", o.floor, min=-5, max=200),
        num("seats", "Seats", o.seats, min=1, max=10), num("rating", "Rating", o.rating, min=1, max=5),
        num("height", "Height", o.height, step="any"), num("weight", "Weight", o.weight, step="any"),
        num("salary", "Salary", o.salary, step="any", min=0), num("discount", "Discount", o.discount, step="any", min=0, max=1),
        check("active", "Active", o.active), check("verified", "Verified", o.verified),
        check("newsletter", "Newsletter", o.newsletter),
        choice("size", "Size", o.size, ("S", "M", "L", "XL")), choice("tier", "Tier", o.tier, ("free", "pro", "team")),
        choice("colour", "Colour", o.colour, ("red", "green", "blue")), choice("status", "Status", o.status, ("new", "active", "closed")),
        text("born", "Born", o.born, type="date"), text("joined", "Joined", o.joined, type="date"),
        text("last_login", "Last login", o.last_login, type="datetime-local"),
        text("next_call", "Next call", o.next_call, type="datetime-local"),
        text("nickname", "Nickname", o.nickname), area("note", "Note", o.note),
        area("tags", "Tags", o.tags, rows=4), area("roles", "Roles", o.roles, rows=4),
        num("manager_id", "Manager id", o.manager_id),
        Div(Button("Save", cls=ButtonT.primary), A("Cancel", href=cancel, cls=("uk-btn", ButtonT.default)), cls="flex gap-2"),
        cls="space-y-4 max-w-xl", enctype=URLENC, **{"data-on:submit": action}), cls="space-y-4", id="person-form"), indent=False)

BLANK = SimpleNamespace(**{k: (None if f.is_required() else f.get_default(call_default_factory=True))
                           for k, f in Person.model_fields.items()})

# --- measuring -------------------------------------------------------------------------------------------------------

def cases() -> dict:
    "name -> (starmodel_nb call, hand-written call), each returning the HTML."
    rows, objs, p = [(o, 1) for o in items()], items(), person()
    return {"list, 50 rows": (lambda: sm_list(rows), lambda: hand_list(objs)),
            "form, 30 fields (new)": (lambda: record_form(Person),
                                      lambda: hand_form(BLANK, "New person", "@post('/people', {contentType: 'form'})", "/people")),
            "form, 30 fields (edit)": (lambda: record_form(Person, p),
                                       lambda: hand_form(p, "Edit person 7", "@patch('/people/7', {contentType: 'form'})", "/people/7"))}

def batch_size(fns, seconds: float) -> int:
    "Calls per measurement so that the slower side takes about `seconds`."
    per = max(timeit.Timer(f).timeit(20) / 20 for f in fns)
    return max(5, int(seconds / per))

def measure(pairs: dict, rounds: int, seconds: float) -> dict:
    "name -> median per-call seconds of (starmodel, hand); every round visits every case, alternating which side goes first."
    sizes = {k: batch_size(p, seconds) for k, p in pairs.items()}
    got = {k: ([], []) for k in pairs}
    for r in range(rounds):
        for k, p in pairs.items():
            for i in ((0, 1) if r % 2 == 0 else (1, 0)): got[k][i].append(timeit.Timer(p[i]).timeit(sizes[k]) / sizes[k])
    return {k: (statistics.median(s), statistics.median(h)) for k, (s, h) in got.items()}

def check_markup(name: str, sm: str, hand: str):
    "Both sides must render the same shape: rows and links for the list, labelled fields for the form."
    if name.startswith("list"): keys = ("<tr", ">Open</a>", "<th")
    else: keys = ("<label", "<select", "<textarea", 'type="checkbox"', 'type="date"', 'type="number"', ">Save</button>")
    diff = {k: (sm.count(k), hand.count(k)) for k in keys if sm.count(k) != hand.count(k)}
    if diff: print(f"warning: {name}: markup differs (starmodel, hand): {diff}", file=sys.stderr)

def profile(name: str, fn, calls: int = 200, top: int = 12):
    "starmodel_nb's side of a case under cProfile: its functions, pydantic's `get_default` and FastHTML's by cumulative time."
    pr = cProfile.Profile(); pr.enable()
    for _ in range(calls): fn()
    pr.disable()
    print(f"\n--- profile: starmodel_nb, {name} ({calls} calls) ---")
    pstats.Stats(pr).strip_dirs().sort_stats("cumulative").print_stats(r"monster|fields|get_default|ft_html|to_xml", top)

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=11, help="measurements per side and case (median taken)")
    ap.add_argument("--batch", type=float, default=0.1, help="seconds per measurement (calls are batched)")
    ap.add_argument("--profile", action="store_true", help="print a cProfile of starmodel_nb's side of each case")
    ap.add_argument("--load-rounds", type=int, default=15, help="page loads per server in Chromium (median taken)")
    ap.add_argument("--no-load", action="store_true", help="skip the page load in Chromium")
    a = ap.parse_args(argv)
    pairs = cases()
    for name, (sm, hand) in pairs.items(): check_markup(name, sm(), hand())
    print(f"{'case':<24}{'starmodel':>11}{'hand':>11}{'ratio':>7}  target  {'':<6}{'KB sm/hand':>11}")
    for name, (s, h) in measure(pairs, a.rounds, a.batch).items():
        r, kb = s / h, "/".join(f"{len(f()) / 1024:.1f}" for f in pairs[name])
        print(f"{name:<24}{s * 1e6:>8.0f} µs{h * 1e6:>8.0f} µs{r:>7.2f}  <= {TARGET}  {'PASS' if r <= TARGET else 'MISS':<6}{kb:>11}")
    if a.profile:
        for name, pair in pairs.items(): profile(name, pair[0])
    if not a.no_load:
        import ui_load
        ui_load.main(["--rounds", str(a.load_rounds)])
    return 0

if __name__ == "__main__": sys.exit(main())
