"A renderer of one's own: every call the web adapters make on the interface goes through the Renderer protocol, so an object implementing it (not a MonsterUI) serves every page; one that lacks a method is refused at create_app."
import json
import pytest
from starlette.testclient import TestClient
from starmodel_nb import Entity, Field, event, create_app
from starmodel_nb.adapters.ui.monster import MonsterUI
from starmodel_nb.app.runtime import Renderer, missing_methods
from starmodel_nb.adapters.web.admin import short_key

class Parcel(Entity, table=True):
    id: int | None = Field(default=None, primary_key=True)
    label: str = Field(min_length=2)
    @event(method="post")
    def stamp(self): self.label += "!"
    @event(method="post")
    def lose(self): raise ValueError("Lost in the post.")

class Desk(Entity):
    model_config = {"scope": "global"}
    rings: int = 0
    @event
    def ring(self): self.rings += 1

class Branded:
    "Not a MonsterUI: each method records that the web called it, then draws what MonsterUI draws (pages with a brand)."
    def __init__(self): self.m, self.called = MonsterUI(), set()
    def _(self, name): self.called.add(name); return getattr(self.m, name)
    def render_view(self, obj, version, epoch): return self._("render_view")(obj, version, epoch)
    def view_id(self, cls, key=None): return self._("view_id")(cls, key)
    def signal_bound(self, cls): return self._("signal_bound")(cls)
    def version_marker(self, cls, version, epoch="", key=None): return self._("version_marker")(cls, version, epoch, key)
    def render_page(self, title, content, headers, signals=None): return self._("render_page")(f"Acme · {title}", content, headers, signals)
    def error_fragment(self, message): return self._("error_fragment")(message)
    def index_content(self, classes): return self._("index_content")(classes)
    def detail_content(self, obj, version, epoch): return self._("detail_content")(obj, version, epoch)
    def list_content(self, cls, rows, page, has_next, sort, desc, q, base=None, select=None):
        return self._("list_content")(cls, rows, page, has_next, sort, desc, q, base, select)
    def list_page_content(self, cls, list_html, q): return self._("list_page_content")(cls, list_html, q)
    def record_form(self, cls, obj=None, values=None, errors=None): return self._("record_form")(cls, obj, values, errors)
    def event_control(self, cls, spec, url=None): return self._("event_control")(cls, spec, url)

def test_a_renderer_of_ones_own_serves_every_page(tmp_path):
    ui = Branded()
    assert not isinstance(ui, MonsterUI) and missing_methods(ui) == []
    app = create_app([Parcel, Desk], ui=ui, admin=True, database_url=f"sqlite:///{tmp_path}/p.db", secret_key="renderer-secret-key-of-at-least-32-bytes")
    with TestClient(app, headers={"Datastar-Request": "true"}, client=("127.0.0.1", 1), base_url="http://127.0.0.1:5001") as c:
        assert "<title>Acme · " in c.get("/", headers={"Datastar-Request": ""}).text
        p = app.create(Parcel, label="box")
        assert c.get("/desk/ring").status_code == 200
        for path in ("/parcels", "/parcels/new", f"/parcels/{p.id}", f"/parcels/{p.id}/edit", "/admin", "/desk", f"/admin/desk/{short_key('global')}"):
            r = c.get(path, headers={"Datastar-Request": ""})
            assert r.status_code == 200 and "<title>Acme · " in r.text, (path, r.status_code, r.text[:200])
        assert c.post(f"/parcels/{p.id}/stamp").status_code == 200
        assert "Lost in the post." in c.post(f"/parcels/{p.id}/lose").text
        assert "at least 2 characters" in c.post("/parcels", data={"label": "x"}).text   # the form again, with its error
        assert c.get("/desk/ring").status_code == 200
    wanted = {m for m in Renderer.__dict__ if not m.startswith("_") and callable(Renderer.__dict__[m])}
    assert wanted - ui.called <= {"view_id"}, wanted - ui.called              # the stream's view ids: below

def test_the_live_stream_names_views_by_the_renderer():
    from starmodel_nb.app.bus import EntityChanged
    from starmodel_nb.adapters.web.stream import stream_message
    class Dotted(Branded):
        def view_id(self, cls, key=None): self.called.add("view_id"); return f"acme-{cls.__name__}-{key}"
    ui = Dotted()
    app = create_app([Parcel], ui=ui, database_url="sqlite://", secret_key="renderer-secret-key-of-at-least-32-bytes")
    m = stream_message(app.sm, EntityChanged("parcel", "3", 2, {"label": "ab"}, {"id": 3, "label": "ab"}, "global"))
    assert m["id"] == "acme-Parcel-3" and "view_id" in ui.called

def test_a_renderer_that_lacks_a_method_is_refused():
    class Half:
        def render_view(self, obj, version, epoch): return ""
        def render_page(self, title, content, headers, signals=None): return ""
    with pytest.raises(TypeError, match="ui=Half: a renderer needs every method of the Renderer protocol; it lacks view_id, signal_bound"):
        create_app([Parcel], ui=Half(), database_url="sqlite://")
