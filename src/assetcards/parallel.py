"""Parse many card files on two cores.

Parsing is pure CPU work on bytes already in memory. For a large batch, one forked child
parses half of the blobs (it inherits them; nothing is sent to it) while this process parses
the other half, and the child's results come back through a pipe. Only on Linux, only from a
single-threaded process (forking a threaded process can deadlock), only for batches large enough
to pay for the fork. Whatever goes wrong in the child, this process parses that half itself.
"""

from __future__ import annotations

import os
import pickle
import sys
import threading
from collections.abc import Sequence

from .parse import ParsedFile, parse_file

MIN_FILES = 2000  # below this, forking costs more than it saves


def _usable() -> bool:
    return (sys.platform.startswith("linux") and (os.cpu_count() or 1) > 1
            and threading.active_count() == 1)


def parse_blobs(blobs: Sequence[tuple[str, bytes]]) -> list[ParsedFile]:
    """Parse (path, data) pairs, in order."""
    if len(blobs) < MIN_FILES or not _usable():
        return [parse_file(data, path) for path, data in blobs]
    half = len(blobs) // 2
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: parse the second half, send it, leave without cleanup
        os.close(read_end)
        try:
            payload = pickle.dumps([parse_file(data, path) for path, data in blobs[half:]],
                                   protocol=pickle.HIGHEST_PROTOCOL)
            with os.fdopen(write_end, "wb") as out:
                out.write(payload)
        finally:
            os._exit(0)
    os.close(write_end)
    first = [parse_file(data, path) for path, data in blobs[:half]]
    with os.fdopen(read_end, "rb") as pipe:
        payload = pipe.read()
    os.waitpid(pid, 0)
    try:
        second = pickle.loads(payload)
        if not isinstance(second, list) or len(second) != len(blobs) - half:
            raise ValueError("incomplete")
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError):
        second = [parse_file(data, path) for path, data in blobs[half:]]
    return first + second
