"""nbval runs every notebook in a real kernel (`pytest --nbval-lax nbs/`).

The outputs kept in the notebooks are documentation, written by `nbdev-test --save` and left unnumbered by
`nbdev-clean`; nbval would take them for references of cells that never ran. Outputs are never compared here:
lesson cells assert what they show (`test_eq`), so a changed result fails the cell itself."""

def pytest_collection_modifyitems(items):
    for item in items:
        cell = getattr(item, "cell", None)
        if cell is not None and cell.get("execution_count") is None: cell.outputs = []
