"""Packaging for hyena (columnar time-series engine) and hepserver (HEP capture daemon)."""
from setuptools import find_packages, setup

CORE = [
    "numpy>=2.0",
    "numba>=0.60",
    "pynng>=0.8",
    "lz4>=4.0",
    "xxhash>=3.0",
    "pyarrow>=15",
]

# DuckDB extensions are loaded from these PyPI packages (no download at run time); each must
# match the DuckDB version exactly.
DUCKDB = "1.5.5"
HEP = [f"duckdb=={DUCKDB}", f"duckdb-extension-ducklake=={DUCKDB}",
       f"duckdb-extension-sqlite-scanner=={DUCKDB}", f"duckdb-extension-postgres-scanner=={DUCKDB}",
       f"duckdb-extension-httpfs=={DUCKDB}", "pytz", "aiohttp>=3.9", "boto3>=1.34"]

EXTRAS = {
    # Exports, DuckLake, SQL over HTTP for the capture daemon.
    "hep": HEP,
    "test": ["pytest>=8", "pytest-timeout>=2.3", "hypothesis>=6.100", "psutil>=5.9",
             "moto[server]>=5", "psycopg[binary]>=3.1", *HEP],
    # Peers measured beside hyena in benches/.
    "bench": ["chdb>=3", "psutil>=5.9", *HEP],
}
EXTRAS["all"] = sorted({dep for deps in EXTRAS.values() for dep in deps})

setup(
    name="hyena",
    version="0.1.0",
    description="Append-only, mmap-backed columnar time-series engine and HEP capture daemon",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["hyena", "hyena.*", "hepserver", "hepserver.*"]),
    install_requires=CORE,
    extras_require=EXTRAS,
    entry_points={
        "console_scripts": [
            "hyena=hyena.server.__main__:main",
            "hyena-check=hyena.engine.check:main",
            "hepserver=hepserver.__main__:main",
        ],
    },
)
