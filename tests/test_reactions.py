"Reactions (`@on`) in a served app: after a browser's commit a reaction writes an audit row that an open list shows; one that raises leaves the state committed."
import pytest
from starmodel_nb import Entity, Field, event, create_app, on
from starmodel_nb.app.reactions import reactions
from support import LiveServer

class Poster(Entity, table=True):
    id: int | None = Field(default=None, primary_key=True)
    title: str
    published: bool = False
    @event(method="post")
    def publish(self): self.published = True

class Audit(Entity, table=True):
    id: int | None = Field(default=None, primary_key=True)
    what: str
    by: str

@pytest.fixture
def app(assets, tmp_path):
    app = create_app([Poster, Audit], assets=assets, database_url=f"sqlite:///{tmp_path}/react.db", secret_key="reactions-secret-key-of-at-least-32-bytes")
    @on(Poster.publish)
    def audit(c): app.create(Audit, what=f"published {c.obj.title!r} ({c.key})", by=c.origin.split(":")[0])
    @on(Poster, "changed")
    def mail(c): raise RuntimeError("mail server down")
    yield app
    reactions.remove(audit); reactions.remove(mail)

def test_a_reaction_writes_an_audit_row_and_a_raising_one_changes_nothing(browser, app):
    app.create(Poster, title="Dune")
    with LiveServer(app) as srv:
        ctx = browser.new_context()
        audits, poster = ctx.new_page(), ctx.new_page()
        audits.goto(srv.url + "/audits")
        assert "No audits yet." in audits.content()
        poster.goto(srv.url + "/posters/1")
        poster.get_by_role("button", name="Publish").click()
        audits.locator("#sm-audit-1-row").filter(has_text="published 'Dune' (1)").wait_for(timeout=20_000)   # live, in the open list
        assert app.reactions_done()
        assert app.instance(Poster, 1).published is True                       # committed, though `mail` raised on it
        (row,) = [o for _, o, _ in app.instances(Audit)]
        assert (row.what, row.by) == ("published 'Dune' (1)", "browser")
        failed = [(f.handler.rsplit(".", 1)[-1], f.change.event, str(f.error)) for f in app.sm.reactor.failures]
        assert ("mail", "publish", "mail server down") in failed and ("mail", "create", "mail server down") in failed
        assert not [f for f in app.sm.reactor.failures if "audit" in f.handler]
        poster.wait_for_function("document.getElementById('sm-poster-1-published')?.textContent.includes('true') || "
                                 "document.getElementById('sm-poster-1-published')?.checked === true", polling=50, timeout=20_000)
