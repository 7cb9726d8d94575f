"""The lake: the workspace's tables as partitioned Parquet that DuckDB and Spark both read.

`export_lake(ws, directory, tables=None, incremental=True)` writes it from a DuckDB workspace;
`read_manifest(directory)` and `table_files(...)` tell readers which files hold a table.
Layout and rules: docs/engines.md.
"""

from cdp_lib.lake.export import LakeExport, TableExport, default_tables, export_lake
from cdp_lib.lake.layout import (CANONICAL_TABLES, LAYOUTS, MANIFEST, RESULT_TABLES, Partitioning, layout_of,
                                 read_manifest, register_layout, table_files)

__all__ = [
    "CANONICAL_TABLES", "LAYOUTS", "MANIFEST", "RESULT_TABLES", "LakeExport", "Partitioning", "TableExport",
    "default_tables", "export_lake", "layout_of", "read_manifest", "register_layout", "table_files",
]
