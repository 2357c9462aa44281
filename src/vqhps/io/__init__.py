"""File formats and safe I/O: atomic writes, Parquet shards, restricted unpickling."""
