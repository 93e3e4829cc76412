"""Room 8 of the core. What is kept: the data folder's layout, Parquet tables,
embeddings on disk, the audit log, retention, the clip index.
"""
