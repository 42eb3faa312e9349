"""The package as a user gets it: a wheel built from the exported notebooks, installed into a fresh venv outside the
repo (no dev extras, so no ipywidgets), serving an app with local assets, its client script included."""
import subprocess, sys, textwrap, venv, zipfile
import httpx, pytest
from support import ROOT, free_port, wait_until

def quiet(r: subprocess.CompletedProcess) -> str: return "\n".join(l for l in (r.stdout + r.stderr).splitlines() if "is ignored" not in l)

@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp), str(ROOT)], capture_output=True, text=True)
    assert r.returncode == 0, quiet(r)
    whl = next(tmp.glob("starmodel_nb-*.whl"))
    venv.create(tmp/"venv", with_pip=True)
    py = tmp/"venv"/"bin"/"python"
    r = subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(whl)], capture_output=True, text=True)
    assert r.returncode == 0, quiet(r)
    return whl, py, tmp

def test_the_wheel_holds_the_client_script(installed):
    whl, *_ = installed
    names = zipfile.ZipFile(whl).namelist()
    assert "starmodel_nb/static/starmodel.js" in names and "starmodel_nb/adapters/assets.py" in names

def test_the_designs_import_works_as_written(installed):
    "`from fastsqlmodel import BaseTable`, as the design writes it, in a venv that has only the wheel and its dependencies."
    _, py, tmp = installed
    code = textwrap.dedent("""
        from fastsqlmodel import BaseTable
        from starmodel_nb import Entity, StateStore
        class Product(Entity, BaseTable, table=True):
            name: str
            price: float
            stock: int
            model_config = {"store": StateStore.SERVER_SQL}
        print(Product.model_fields["id"].annotation.__name__, Product(name="pen", price=1, stock=2).created_at.tzname())
    """)
    r = subprocess.run([str(py), "-W", "error::DeprecationWarning", "-c", code], cwd=tmp, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.split() == ["UUID", "UTC"], quiet(r)

def test_an_app_served_from_the_installed_package(installed, assets):
    _, py, tmp = installed
    (tmp/"shop.py").write_text(textwrap.dedent(f"""
        import uvicorn, starmodel_nb
        from starmodel_nb import Entity, event, create_app
        assert "site-packages" in starmodel_nb.__file__, starmodel_nb.__file__   # the installed copy, not the checkout
        class Basket(Entity):
            items: int = 0
            @event
            def add(self, n: int = 1): self.items += n
        uvicorn.run(create_app([Basket], assets={str(assets)!r}, secret_key="wheel-test-" + "k" * 32), host="127.0.0.1", port={(port := free_port())})
        """))
    p = subprocess.Popen([str(py), "shop.py"], cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        def answers():
            assert p.poll() is None, p.stdout.read()
            return httpx.get(base + "/basket")
        page = wait_until(answers, timeout=60, every=0.1, ignore=httpx.TransportError, what="the app to start")
        assert page.status_code == 200 and "/_sm/assets/datastar.js" in page.text
        client = page.text.split('src="/_sm/assets/starmodel.')[1].split('"')[0]
        js = httpx.get(f"{base}/_sm/assets/starmodel.{client}")
        assert js.status_code == 200 and "text/javascript" in js.headers["content-type"] and "starmodel assets pull" in js.text
        assert httpx.get(base + "/_sm/assets/datastar.js").status_code == 200
        c = httpx.Client(base_url=base, headers={"Datastar-Request": "true"})
        c.get("/basket"); r = c.get("/basket/add?n=2")
        assert r.status_code == 200 and '"items":2' in r.text
    finally: p.terminate(); p.wait(10)

def test_inspect_without_ipywidgets_names_the_extra(installed):
    _, py, tmp = installed
    r = subprocess.run([str(py), "-c", "from starmodel_nb import inspect, Entity\nclass A(Entity): n: int = 0\ninspect(A)"],
                       cwd=tmp, capture_output=True, text=True)
    assert r.returncode == 1 and "inspect() needs ipywidgets: pip install 'starmodel_nb[notebook]'" in r.stderr, r.stderr
