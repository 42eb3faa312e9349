"""starmodel_nb's test plugin: a JSON-file store, a colour widget, a renderer of its own, a counting bus, a `backup`
command, a route and a middleware: one of each kind a plugin may add, each used by tests/test_plugins.py."""
from __future__ import annotations
import asyncio, hashlib, json, os, sys
from pathlib import Path
from fasthtml.common import Input
from pydantic import ValidationError
from pydantic_core import core_schema
from starlette.responses import JSONResponse
from starmodel_nb.app.bus import LocalBus
from starmodel_nb import Store
from starmodel_nb.app.uow import Conflict, Unfit
from starmodel_nb.adapters.persistence.memory import KeyedLocks
from starmodel_nb.adapters.ui.monster import MonsterUI
from starmodel_nb.core import BROWSER_STORES, entity_slug, entity_store, registry, stored_state


class Color(str):
    "A colour written #rrggbb: its form input is the browser's colour picker."
    @classmethod
    def __get_pydantic_core_schema__(cls, source, handler):
        return core_schema.no_info_after_validator_function(cls, core_schema.str_schema(pattern=r"^#[0-9a-fA-F]{6}$"))

def color_input(fid: str, name: str, value, field):
    return Input(type="color", id=fid, name=name, value=value or "#000000", cls="uk-input h-10 w-20 p-1", **{"data-widget": "color"})


class JsonFileRepository(Store):
    "A `Repository` keeping each instance as a JSON file under `folder` (one folder per entity), versions checked on save."
    def __init__(self, folder: str | Path):
        self.folder, self.locks = Path(folder), KeyedLocks()
    def _path(self, cls, key: str) -> Path:
        return self.folder / entity_slug(cls) / (hashlib.sha256(str(key).encode()).hexdigest()[:32] + ".json")
    def _read(self, path: Path) -> dict | None:
        try: return json.loads(path.read_text())
        except FileNotFoundError: return None
    def _load(self, cls, doc: dict):
        try: return cls.model_validate(doc["state"])
        except ValidationError as e:
            raise Unfit(cls, doc["key"], [f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors()], doc["state"], doc["version"]) from None
    async def get(self, cls, key, cached=False):
        doc = await asyncio.to_thread(self._read, self._path(cls, key))
        return None if doc is None else (self._load(cls, doc), doc["version"])
    def _write(self, cls, key, obj, version) -> int:
        path = self._path(cls, key)
        doc = self._read(path)
        if (doc["version"] if doc else 0) != version: raise Conflict(f"{cls.__name__}[{key}] changed since it was read")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"key": key, "version": version + 1, "state": stored_state(obj, "json")}))
        os.replace(tmp, path)
        return version + 1
    async def save(self, cls, key, obj, version): return await asyncio.to_thread(self._write, cls, key, obj, version)
    async def delete(self, cls, key): self._path(cls, key).unlink(missing_ok=True)
    def _docs(self, cls) -> list[dict]:
        return [d for p in sorted((self.folder / entity_slug(cls)).glob("*.json")) if (d := self._read(p)) is not None]
    async def list(self, cls):
        return [(d["key"], self._load(cls, d), d["version"]) for d in await asyncio.to_thread(self._docs, cls)]
    async def count(self, cls): return len(await asyncio.to_thread(self._docs, cls))
    def lock(self, cls, key): return self.locks((entity_slug(cls), key))


class PlainUI:
    "A renderer of its own, delegating each method of the `Renderer` protocol (no more) to MonsterUI; its pages say `data-renderer=plain`."
    def __init__(self): self.inner = MonsterUI()
    def render_view(self, obj, version, epoch): return self.inner.render_view(obj, version, epoch)
    def view_id(self, cls, key=None): return self.inner.view_id(cls, key)
    def signal_bound(self, cls): return self.inner.signal_bound(cls)
    def version_marker(self, cls, version, epoch="", key=None): return self.inner.version_marker(cls, version, epoch, key)
    def render_page(self, title, content, headers, signals=None):
        return self.inner.render_page(f"{title} (plain)", content, headers, signals).replace("<body", '<body data-renderer="plain"', 1)
    def error_fragment(self, message): return self.inner.error_fragment(message)
    def index_content(self, classes): return self.inner.index_content(classes)
    def detail_content(self, obj, version, epoch): return self.inner.detail_content(obj, version, epoch)
    def list_content(self, cls, rows, page, has_next, sort, desc, q, base=None, select=None):
        return self.inner.list_content(cls, rows, page, has_next, sort, desc, q, base, select)
    def list_page_content(self, cls, list_html, q): return self.inner.list_page_content(cls, list_html, q)
    def record_form(self, cls, obj=None, values=None, errors=None): return self.inner.record_form(cls, obj, values, errors)
    def event_control(self, cls, spec, url=None): return self.inner.event_control(cls, spec, url)


class CountingBus(LocalBus):
    "The in-process bus, counting what it publishes."
    def __init__(self): super().__init__(); self.published = 0
    async def publish(self, evt): self.published += 1; await super().publish(evt)


class Stamp:
    "ASGI middleware: every answer it sees carries `x-testplugin: <n>`, the requests it has seen."
    def __init__(self, app, header: str = "x-testplugin"): self.app, self.header, self.seen = app, header.encode(), 0
    async def __call__(self, scope, receive, send):
        if scope["type"] != "http": return await self.app(scope, receive, send)
        self.seen += 1
        n = str(self.seen).encode()
        async def stamped(msg):
            if msg["type"] == "http.response.start": msg = {**msg, "headers": [*msg.get("headers", []), (self.header, n)]}
            await send(msg)
        await self.app(scope, receive, stamped)


async def ping(request):
    "`GET /_testplugin/ping`: the plugin, the app's entities, and what the counting bus published."
    rt = request.app.sm
    return JSONResponse({"plugin": "testplugin", "entities": sorted(rt.entities()), "published": getattr(rt.bus, "published", None)})


def backup(settings, args) -> None:
    "`starmodel backup [-o FILE]`: every kept instance of every entity of the app (not browser-kept ones), as JSON."
    from starmodel_nb.cli import load_app
    from starmodel_nb.factory import create_app
    load_app(settings.app)
    app = create_app(settings=settings)
    out = {entity_slug(c): [{"key": str(k), "version": v, "state": stored_state(o, "json")} for k, o, v in app.instances(c)]
           for c in registry if entity_store(c) not in BROWSER_STORES}
    text = json.dumps(out, indent=1, sort_keys=True)
    if args.output: Path(args.output).write_text(text); print(f"wrote {sum(map(len, out.values()))} instances to {args.output}")
    else: sys.stdout.write(text + "\n")


def plugin(p) -> None:
    p.store("jsonfile", lambda s: JsonFileRepository(os.environ.get("STARMODEL_JSONFILE_DIR") or ".starmodel-jsonfile"))
    p.widget(Color, color_input)
    p.renderer("plain", lambda s: PlainUI())
    p.bus("counting", lambda s: CountingBus())
    p.command("backup", backup, help="write every kept instance as JSON",
              arguments=lambda parser: parser.add_argument("-o", "--output", help="the file to write (default: standard output)"))
    p.route("/_testplugin/ping", ping)
    p.middleware(Stamp, header="x-testplugin")
