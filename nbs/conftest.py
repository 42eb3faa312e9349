"""nbval runs every notebook in a real kernel (`pytest --nbval-lax nbs/`).

The outputs kept in the notebooks are documentation, written by `nbdev-test --save` and left unnumbered by
`nbdev-clean`; nbval would take them for references of cells that never ran. A cell whose output is
worth comparing says so with `# NBVAL_CHECK_OUTPUT` and is run here like any other."""

def pytest_collection_modifyitems(items):
    for item in items:
        cell = getattr(item, "cell", None)
        if cell is not None and cell.get("execution_count") is None: cell.outputs = []
