"""Page load in Chromium: starmodel_nb's generated list page against a hand-written FastHTML + Datastar page, one run.

Three servers, each in its own uvicorn subprocess, serving only local files (`.cache/assets`):
- `s`: the generated `/items` page of `bench/ui.py`'s `Item` (50 records in SQLite; the page shows its first page of
  rows), with the stylesheet Tailwind's CLI built ahead (`css = auto`: what pages load by default).
- `s-browser`: the same with `css = browser`: Tailwind's browser build compiles the styles in the page (the default
  until the stylesheet was prebuilt; for information).
- `hand`: FastHTML + datastar-py written by hand: a page with the same table and pager (`bench/ui.py`'s `hand_list`,
  MonsterUI components), Franken UI's stylesheet and Datastar.

A load is timed in the page from navigation start until the page is drawn as it will stay: the `load` event, the
fonts, Tailwind's first build when it compiles in the page, then two animation frames. Cold: a new browser context
each time (nothing cached); warm: the same page loaded again in that context. Rounds alternate the servers' order.
Target: s / hand <= 1.2 (cold and warm, median). Run: `python bench/ui.py` runs it after the render figures, or
`python bench/ui_load.py [--rounds 15]` alone (about 30 s).
"""
import argparse, os, re, statistics, sys, tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / ".cache" / "assets"
TARGET = 1.2
DRAWN = """async () => {
    if (document.readyState !== 'complete') await new Promise(r => addEventListener('load', r, {once: true}));
    await document.fonts.ready;
    const built = () => performance.getEntriesByType('measure').some(m => m.name.startsWith('Build #'));
    while (document.querySelector('script[src*="tailwind"]') && !built()) await new Promise(r => setTimeout(r, 5));
    await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
    return performance.now();
}"""

def _sm():
    "The generated app (`UI_LOAD_CSS`: auto or browser) on the SQLite file `UI_LOAD_DB`."
    from starmodel_nb import create_app
    from ui import Item
    return create_app([Item], assets=str(ASSETS), css=os.environ["UI_LOAD_CSS"], database_url=os.environ["UI_LOAD_DB"],
                      secret_key="ui-load-secret-key-of-at-least-32-bytes")

def _hand():
    "FastHTML + Datastar by hand: the same table (its first `UI_LOAD_ROWS` rows) in a page of its own."
    from fasthtml.common import H1, Body, Head, Html, Link, Main, Meta, NotStr, Script, Title, FastHTML
    from starlette.staticfiles import StaticFiles
    from ui import hand_list, items
    rows = items()[:int(os.environ["UI_LOAD_ROWS"])]
    app = FastHTML(default_hdrs=False)
    app.mount("/a", StaticFiles(directory=ASSETS))
    @app.route("/items")
    def page():
        return Html(Head(Meta(charset="utf-8"), Meta(name="viewport", content="width=device-width, initial-scale=1"),
                         Title("Items"), Link(rel="stylesheet", href="/a/franken-ui/core.min.css"),
                         Script(type="module", src="/a/datastar.js")),
                    Body(Main(H1("Items", cls="uk-h2"), NotStr(hand_list(rows)), cls="uk-container py-8")))
    return app

if os.environ.get("UI_LOAD_APP"): app = _sm() if os.environ["UI_LOAD_APP"] == "sm" else _hand()

def servers(tmp: Path) -> dict:
    "The three servers, the generated app's records in place: {name: AppProcess}."
    import httpx
    from support import AppProcess
    from ui import items
    from starmodel_nb.adapters.css import stylesheet
    if stylesheet(str(ASSETS)) == "browser":
        raise SystemExit("no current prebuilt stylesheet in .cache/assets: run `starmodel assets css .cache/assets`")
    here, got = Path(__file__).parent, {}
    try:
        for name, css in (("s", "auto"), ("s-browser", "browser")):
            env = {"UI_LOAD_APP": "sm", "UI_LOAD_CSS": css, "UI_LOAD_DB": f"sqlite:///{tmp}/{name}.db"}
            got[name] = AppProcess(here, "ui_load:app", env, probe="/items")
            with httpx.Client(base_url=got[name].url, headers={"Accept": "application/json"}) as c:
                for o in items():
                    c.post("/items", content=o.model_dump_json(exclude={"id"}),
                           headers={"Content-Type": "application/json"}).raise_for_status()
        html = httpx.get(got["s"].url + "/items").text
        rows = len(re.findall(r'<tr id="sm-item-\d+-row"', html))
        got["hand"] = AppProcess(here, "ui_load:app", {"UI_LOAD_APP": "hand", "UI_LOAD_ROWS": str(rows)}, probe="/items")
    except BaseException:
        for s in got.values(): s.stop()
        raise
    return got

def measure(urls: dict, rounds: int) -> dict:
    "Cold and warm load times (ms) per server, `rounds` of each, alternating their order."
    from playwright.sync_api import sync_playwright
    from support import CHROMIUM, CHROMIUM_ARGS
    out = {(k, w): [] for k in urls for w in ("cold", "warm")}
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for i in range(rounds + 1):                      # the first round warms the servers and the browser up
            for k in (list(urls) if i % 2 else list(urls)[::-1]):
                ctx = b.new_context(viewport={"width": 1100, "height": 800})
                page = ctx.new_page()
                for w in ("cold", "warm"):
                    page.goto(urls[k] + "/items")
                    ms = page.evaluate(DRAWN)
                    if i: out[k, w].append(ms)
                ctx.close()
        b.close()
    return out

def report(out: dict) -> None:
    print(f"\npage load in Chromium (ms from navigation to drawn, {len(out['hand', 'cold'])} loads each)")
    print(f"{'server':<12}{'cold med':>10}{'p95':>8}{'warm med':>10}{'p95':>8}")
    p95 = lambda xs: sorted(xs)[int(0.95 * (len(xs) - 1))]
    for k in dict.fromkeys(k for k, _ in out):
        c, w = out[k, "cold"], out[k, "warm"]
        print(f"{k:<12}{statistics.median(c):>10.0f}{p95(c):>8.0f}{statistics.median(w):>10.0f}{p95(w):>8.0f}")
    for k in ("s", "s-browser"):
        for w in ("cold", "warm"):
            r = statistics.median(out[k, w]) / statistics.median(out["hand", w])
            note = f"<= {TARGET}  {'PASS' if r <= TARGET else 'MISS'}" if k == "s" else "(for information)"
            print(f"{k}/hand {w:<5} {r:>5.2f}  {note}")

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15, help="loads per server, cold and warm (median taken)")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        procs = servers(Path(tmp))
        try: report(measure({k: s.url for k, s in procs.items()}, a.rounds))
        finally:
            for s in procs.values(): s.stop()
    return 0

if __name__ == "__main__": sys.exit(main())
