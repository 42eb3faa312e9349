"""FastSQLModel's `BaseTable` by the name starmodel's design writes: `from fastsqlmodel import BaseTable`.

The FastSQLModel distribution (a dependency of starmodel_nb) names its module `FastSQLModel`; this module, installed
with starmodel_nb, gives the same objects under the lower-case name. It is the one module not exported from a notebook:
nbdev exports into the `starmodel_nb` package only."""
from FastSQLModel.db import BaseTable, DatabaseService, SQLModelDB, utc_now

__all__ = ["BaseTable", "DatabaseService", "SQLModelDB", "utc_now"]
