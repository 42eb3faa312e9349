"""FastSQLModel's `BaseTable` by the name starmodel's design writes: `from fastsqlmodel import BaseTable`.

The FastSQLModel distribution (a dependency of starmodel_nb) names its module `FastSQLModel`; this module, installed
with starmodel_nb, gives the same objects under the lower-case name. It is the one module not exported from a notebook:
nbdev exports into the `starmodel_nb` package only."""
import warnings

with warnings.catch_warnings():   # BaseTable sets pydantic's deprecated `json_encoders`: FastSQLModel's note, not its user's
    warnings.filterwarnings("ignore", message="`json_encoders` is deprecated", category=DeprecationWarning)
    from FastSQLModel.db import BaseTable, DatabaseService, SQLModelDB, utc_now

__all__ = ["BaseTable", "DatabaseService", "SQLModelDB", "utc_now"]
