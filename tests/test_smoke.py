"Every exported module imports, and the demo app serves its pages."
import importlib, os, subprocess, sys, urllib.request
import pytest
from support import ROOT, free_port, wait_until

MODULES = sorted(str(p.relative_to(ROOT).with_suffix("")).replace("/", ".")
                 for p in (ROOT / "starmodel_nb").rglob("*.py") if p.name not in ("__init__.py", "_modidx.py"))

def test_modules_found(): assert len(MODULES) >= 10, MODULES

@pytest.mark.parametrize("mod", MODULES)
def test_import(mod): importlib.import_module(mod)

def test_demo_serves(tmp_path):
    port = free_port()
    env = {**os.environ, "STARMODEL_PORT": str(port), "STARMODEL_SECRET_KEY": "smoke-secret-key-of-at-least-32-bytes"}
    p = subprocess.Popen([sys.executable, "-m", "starmodel_nb.demo"], cwd=tmp_path, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        page = wait_until(lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/counter", timeout=1).read().decode(), timeout=60, every=0.1,
                          ignore=OSError, what=lambda: "the demo to start: " + p.stdout.read1().decode())
        assert 'id="sm-counter"' in page
        req = urllib.request.Request(f"http://127.0.0.1:{port}/sharedcounter/increment", headers={"Datastar-Request": "true"})
        assert "datastar-patch-signals" in urllib.request.urlopen(req, timeout=2).read().decode()
    finally: p.terminate(); p.wait(5)
