"""Trace files: the output service that writes them, and the reader that reads them back.

``service`` (queue + writer thread) writes through ``sinks`` (JSON Lines or one JSON file per
trace) using ``names`` (safe file names); ``reader`` reads the files back knowing only their
format. Nothing is imported here, so importing the reader does not load the writer.
"""
