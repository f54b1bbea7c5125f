"""hyena: an append-only, mmap-backed columnar time-series engine.

    import hyena
    with hyena.open("data") as db:
        db.add_column("method", "string")
        db.append(source=1, ts=[1_700_000_000_000_000], columns={"method": ["INVITE"]})
"""
import os as _os

# numba reads this when it loads; spinning OpenMP threads cost milliseconds per parallel region.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from hyena import errors  # noqa: E402
from hyena.engine.batch import Sparse  # noqa: E402
from hyena.engine.config import Config  # noqa: E402
from hyena.engine.database import Database, PartitionInfo, open_database as open  # noqa: E402
from hyena.engine.scan.result import int128_to_pylist  # noqa: E402
from hyena.engine.warmup import warm_up  # noqa: E402
from hyena.memory import retain_freed_memory  # noqa: E402
from hyena.types import Column, ColumnType  # noqa: E402

__all__ = ["open", "Database", "Config", "Column", "ColumnType", "Sparse", "PartitionInfo",
           "int128_to_pylist", "warm_up", "retain_freed_memory", "errors"]
__version__ = "0.1.0"
