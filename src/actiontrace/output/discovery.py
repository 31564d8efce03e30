r"""Finding trace files: ``discover_trace_files(path)``, the one folder walk of the read side.

Rules, the same for every consumer:

* a folder is read recursively, ``*.jsonl``, ``*.jsonl.gz`` and ``*.json`` files only (case
  insensitive), in name order (by the parts of the path below the folder);
* only regular files: a FIFO, device or socket with a trace name is skipped (and counted), never
  opened;
* a symbolic link is followed only when its target stays inside the folder (and is a regular
  file); one pointing elsewhere is skipped and counted; linked folders are not entered;
* hidden folders (any name starting with ``.``: ``.git``, ``.venv``) inside the folder are not
  entered; the folder given is always read, ``.`` included;
* a ``name.jsonl`` is left out when ``name.jsonl.gz`` is beside it: a rotated file is compressed
  under its name plus ``.gz`` and the original deleted after, so while both exist they hold the
  same traces and the ``.gz`` is the one that stays;
* a path naming a file is that file, whatever its name (kind ``jsonl`` unless it ends in
  ``.jsonl.gz``, ``.gz`` or ``.json``), when it is a regular file.

File names may not be valid UTF-8: ``TraceFile.path`` is the name to open, ``TraceFile.name`` the
same as text safe to print and encode (undecodable bytes as ``\\xNN``).
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Final, NamedTuple

__all__ = [
    "TRACE_SUFFIXES",
    "Discovery",
    "TraceFile",
    "discover_trace_files",
    "display_path",
    "trace_kind",
]

TRACE_SUFFIXES: Final = (".jsonl", ".jsonl.gz", ".json")
"""The file suffixes a folder scan reads; every other file is ignored."""


class TraceFile(NamedTuple):
    """A trace file found: ``path`` to open, ``kind`` (``jsonl``, ``gz``, ``json``), ``name``.

    ``name`` is ``path`` as printable text (the form records carry as their ``file``);
    ``relative`` is the path below the folder read, with ``/`` separators (the file's own name
    when a file was given).
    """

    path: str
    kind: str
    name: str
    relative: str


class Discovery(NamedTuple):
    """What ``discover_trace_files`` found: the files to read, and the entries it skipped.

    ``skipped``: display names of trace-named entries not read (not a regular file, a link leading
    out of the folder, a folder that could not be listed).
    """

    files: list[TraceFile]
    skipped: list[str]


def display_path(path: str) -> str:
    r"""Return ``path`` as text that always encodes (bytes not UTF-8 shown as ``\\xNN``)."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return path


def trace_kind(name: str) -> str | None:
    """``"jsonl"``, ``"gz"`` (``.jsonl.gz``) or ``"json"`` for a trace file name, else ``None``."""
    lowered = name.lower()
    if lowered.endswith(".jsonl"):
        return "jsonl"
    if lowered.endswith(".jsonl.gz"):
        return "gz"
    if lowered.endswith(".json"):
        return "json"
    return None


def _file_kind(name: str) -> str:
    lowered = name.lower()
    if lowered.endswith(".gz"):
        return "gz"
    return "json" if lowered.endswith(".json") else "jsonl"


def _inside(target: str, root: str) -> bool:
    return target == root or target.startswith(root.rstrip(os.sep) + os.sep)


def _regular(path: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def discover_trace_files(path: str | os.PathLike[str]) -> Discovery:
    """List the trace files under ``path`` (a folder, walked by the rules above, or one file).

    Raises ``FileNotFoundError`` when ``path`` does not exist and ``OSError`` when a folder given
    cannot be listed; a sub-folder that cannot be listed is skipped and counted.
    """
    root = os.fspath(path)
    try:
        info = os.stat(root)
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, "No such trace file or folder", root) from None
    if not stat.S_ISDIR(info.st_mode):
        name = display_path(root)
        if not stat.S_ISREG(info.st_mode):
            return Discovery([], [name])
        return Discovery([TraceFile(root, _file_kind(root), name, os.path.basename(name))], [])
    real_root = os.path.realpath(root)
    found: list[tuple[tuple[str, ...], TraceFile]] = []
    skipped: list[str] = []
    pending: list[tuple[str, tuple[str, ...]]] = [(root, ())]
    first = True
    while pending:
        folder, parts = pending.pop()
        try:
            with os.scandir(folder) as entries:
                listed = list(entries)
        except OSError:
            if first:
                raise
            skipped.append(display_path(folder))
            continue
        first = False
        names = {entry.name for entry in listed}
        for entry in listed:
            name = entry.name
            try:
                if entry.is_dir(follow_symlinks=False):
                    if not name.startswith("."):
                        pending.append((entry.path, (*parts, name)))
                    continue
                found_kind = trace_kind(name)
                if found_kind is None:
                    continue
                kind: str = found_kind
                if kind == "jsonl" and name + ".gz" in names:
                    continue
                if entry.is_symlink():
                    target = os.path.realpath(entry.path)
                    usable = _inside(target, real_root) and _regular(target)
                else:
                    usable = entry.is_file(follow_symlinks=False)
            except OSError:
                usable = False
            shown = display_path(entry.path)
            if not usable:
                skipped.append(shown)
                continue
            relative = "/".join(display_path(part) for part in (*parts, name))
            found.append(((*parts, name), TraceFile(entry.path, kind, shown, relative)))
    found.sort(key=lambda item: item[0])
    return Discovery([item for _, item in found], skipped)
