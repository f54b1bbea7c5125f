"""Exports of hyena data to Parquet (HEPop layout), compaction, retention, DuckLake."""
