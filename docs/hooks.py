"""MkDocs hooks for the documentation site (mkdocs.yml): pages named as nbdev names them, an API page per module,
and beside each notebook's page a Markdown copy, `<page>.html.md`, where nbdev 3 points each module's docstring."""
import importlib, pkgutil, re
from pathlib import Path
from mkdocs.structure.files import File

def _page_name(src_uri: str) -> str:
    "nbdev's name of the page of notebook `src_uri`: `01_core.ipynb` -> `core.html` (`nbdev.config.nbpath2html`)."
    p = Path(src_uri)
    return p.with_name(re.sub(r"^\d+[a-zA-Z0-9]*_", "", p.name.lower())).with_suffix(".html").as_posix()

def _modules() -> list[str]:
    "Every module of the package, by name."
    pkg = importlib.import_module("starmodel_nb")
    return sorted(m.name for m in pkgutil.walk_packages(pkg.__path__, "starmodel_nb.") if not m.name.endswith("_modidx"))

def on_files(files, config):
    "Name each notebook's page as nbdev does, and add an API page per module."
    for f in files:
        if f.src_uri.endswith(".ipynb"):
            f.dest_uri = f.url = _page_name(f.src_uri)
            f.abs_dest_path = str(Path(config["site_dir"]) / f.dest_uri)
    for m in _modules():
        title = m.removeprefix("starmodel_nb.")
        files.append(File.generated(config, f"api/{title}.md", content=f"# `{m}`\n\n::: {m}\n"))
    return files

def on_post_build(config):
    "A Markdown copy of each notebook's page (prose, code, kept outputs), at the address the modules' docstrings give."
    from nbconvert import MarkdownExporter
    md, docs, site = MarkdownExporter(), Path(config["docs_dir"]), Path(config["site_dir"])
    for nb in sorted(docs.rglob("*.ipynb")):
        if ".ipynb_checkpoints" in nb.parts: continue
        body, _ = md.from_filename(str(nb))
        out = site / (_page_name(nb.relative_to(docs).as_posix()) + ".md")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(body)
