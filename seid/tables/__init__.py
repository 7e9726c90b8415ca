"""Lakehouse tables as class C inputs: Delta Lake and Apache Iceberg table versions.

A table's state is its version (Delta) or snapshot id (Iceberg) with a digest of that
version's commit metadata, read through the format's own library (``deltalake``,
``pyiceberg``); data files are never read. The table's history says what each commit
did, which makes the drift typed: an append is data drift, a compaction is not.
Only a manifest that declares tables imports this package.
"""
