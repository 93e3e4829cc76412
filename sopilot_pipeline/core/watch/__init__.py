"""Room 1 of the core. What is in the watch folder: files found there, their partition
keys, content hashes.
"""
