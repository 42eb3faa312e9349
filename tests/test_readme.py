"""The README's Python blocks run as a reader runs them, one after the other in one interpreter (the quick start, the
notebook as control plane, jobs, records, reactions), and every module path the README names imports."""
import importlib, json, re, subprocess, sys
from pathlib import Path

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", README, re.S)

RUNNER = '''
import json, sys, traceback
blocks, checks = json.loads(sys.argv[1]), sys.argv[2]
ns = {"__name__": "__main__"}
for i, b in enumerate(blocks, 1):
    try: exec(compile(b, f"README.md python block {i}", "exec"), ns)
    except BaseException:
        traceback.print_exc()
        sys.exit(f"README.md python block {i} failed:\\n{b}")
exec(compile(checks, "checks", "exec"), ns)
print("ran", len(blocks), "blocks")
'''

CHECKS = '''
app, srv = ns["app"], ns["srv"]
assert app.instance(Scoreboard).score == 10                                  # the edit from the notebook block
assert app.instance(Product, pen.id).stock == 5                             # restored to version 1
assert app.instance(Report).rows == 3 and job.state == "done"
app.fire(Product, "adjust_stock", pen.id, delta=-1)                          # heard by the reaction the README declares
assert app.reactions_done() and [(a.what, a.by) for _, a, _ in app.instances(Audit)] == [(f"{pen.id} stock [5, 4]", "notebook")], app.instances(Audit)
assert app.instance(UserAnalytics, "ada").page_views == 1 and app.instance(UserAnalytics, "ada").last_activity.tzinfo is not None
assert [b.title for _, b, _ in app.instances(BlogPost)] == ["Hi"]
'''.replace("ns[", "globals()[")

def test_the_python_blocks_run_in_order(tmp_path):
    assert len(BLOCKS) >= 7, BLOCKS
    r = subprocess.run([sys.executable, "-c", RUNNER, json.dumps(BLOCKS), CHECKS], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                       env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "STARMODEL_SECRET_KEY": "readme-test-secret-key-0123456789abcdef"})
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-6000:]
    assert f"ran {len(BLOCKS)} blocks" in r.stdout

def test_every_module_path_it_names_imports():
    paths = sorted(set(re.findall(r"\bstarmodel_nb(?:\.[A-Za-z_][A-Za-z0-9_]*)+", README)) | {"fastsqlmodel.BaseTable"})
    assert "starmodel_nb.adapters.ui.fields" in paths
    for p in paths:
        parts = p.split(".")
        for n in range(len(parts), 0, -1):   # the longest module prefix; the rest must be its attributes
            try: obj = importlib.import_module(".".join(parts[:n])); break
            except ModuleNotFoundError: continue
        for a in parts[n:]: obj = getattr(obj, a)   # AttributeError names the missing one
