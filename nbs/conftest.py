"""nbval runs every notebook in a real kernel (`pytest --nbval-lax nbs/`).

The outputs kept in the notebooks are documentation, written by `nbdev-test --save` and left unnumbered by
`nbdev-clean`; nbval would take them for references of cells that never ran. Outputs are never compared here:
lesson cells assert what they show (`test_eq`), so a changed result fails the cell itself.

A lesson that needs a server says so on a line of its own, `# needs: STARMODEL_TEST_DATABASE_URL` (or the Redis
one): without that variable it is skipped, saying why (and it carries `#| notest`, so `nbdev-test` leaves it to
nbval). Under CI=true, where the servers are there, nothing may be skipped: the missing variable fails the run."""
import os, re
import pytest

_NEEDS = re.compile(r"^# needs: (.+)$", re.M)

def _missing(source: str) -> list[str]:
    "The variables a cell's `# needs:` line names that are not set."
    return [v for m in _NEEDS.finditer(source) for v in m.group(1).split() if not os.environ.get(v)]

def pytest_collection_modifyitems(items):
    for item in items:
        cell = getattr(item, "cell", None)
        if cell is None: continue
        if cell.get("execution_count") is None: cell.outputs = []
        if missing := _missing(cell.source):
            if os.environ.get("CI") == "true": raise pytest.UsageError(f"CI=true but {', '.join(missing)} is not set ({item.nodeid})")
            item.add_marker(pytest.mark.skip(reason=f"this lesson needs a server: set {', '.join(missing)} to run it"))
