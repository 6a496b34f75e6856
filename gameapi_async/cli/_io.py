"""How the ``gameapi`` command writes: to any stdout, and never a traceback about it.

Two things a command-line tool meets that a library does not: a reader that goes away early
(``gameapi games | head -1``), and a stdout whose encoding cannot hold a game's title (an
ASCII locale, ``PYTHONIOENCODING=ascii``). Both are facts about the terminal, not failures of
the call, so neither may end in a traceback.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import select
from collections.abc import Iterator
from typing import TextIO

__all__ = ["detach", "dump_json", "escaping_unencodable", "or_devnull", "stop_writing_if_broken"]


def or_devnull(stream: TextIO | None, stack: contextlib.ExitStack) -> TextIO:
    """``stream``, or /dev/null (closed with ``stack``) when there is none.

    A process started with a descriptor closed (``gameapi games >&-``) has ``sys.stdout`` (or
    ``sys.stderr``) set to ``None``; what would go there is discarded, like any write a
    reader does not want, instead of failing on the first ``flush``.
    """
    if stream is not None:
        return stream
    return stack.enter_context(open(os.devnull, "w", encoding="utf-8"))


def dump_json(value: object, out: TextIO) -> None:
    """JSON that is valid whatever the stream's encoding: non-ASCII is written as ``\\uXXXX``.

    The output is then byte-for-byte the same on every locale, which is what a script piping
    it into another program wants.
    """
    print(json.dumps(value, ensure_ascii=True, indent=2), file=out)


@contextlib.contextmanager
def escaping_unencodable(stream: TextIO) -> Iterator[None]:
    """While inside, characters the stream cannot encode are written as backslash escapes.

    ``И`` becomes ``\\u0418`` on an ASCII stdout instead of a ``UnicodeEncodeError``: the
    title is still recoverable, and the rest of the output still arrives. The stream's own
    setting is restored on the way out, since ``main`` may run inside someone's program.
    """
    if not isinstance(stream, io.TextIOWrapper) or stream.errors == "backslashreplace":
        yield
        return
    previous = stream.errors
    try:
        stream.reconfigure(errors="backslashreplace")  # flushes first
    except OSError:  # already broken: what we write will fail and be handled as such
        yield
        return
    try:
        yield
    finally:
        # Restoring flushes; on a broken pipe that fails again, and has been dealt with.
        with contextlib.suppress(OSError, ValueError):
            stream.reconfigure(errors=previous)


def _to_devnull(stream: TextIO) -> None:
    try:
        fd = stream.fileno()
    except (OSError, ValueError):  # not backed by a file descriptor (a StringIO, say)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def detach(stream: TextIO) -> None:
    """Flush ``stream`` and close its file descriptor's end (it then writes to /dev/null).

    A reader waiting for end of file, such as a shell's ``$(...)``, gets it now although this
    process goes on running.
    """
    stream.flush()
    _to_devnull(stream)


def _reader_gone(fd: int) -> bool:
    """True when ``fd`` is a pipe or socket whose reading end is closed (poll says POLLERR)."""
    if not hasattr(select, "poll"):  # pragma: no cover - Windows
        return False
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))


def stop_writing_if_broken(stream: TextIO) -> None:
    """After a ``BrokenPipeError``: if ``stream`` is the broken one, point it at /dev/null.

    What is still buffered would otherwise be flushed again when the interpreter exits, fail
    again, and print "Exception ignored ... BrokenPipeError" after we returned quietly; and a
    caller running ``main`` in-process would meet the same error on its next write. Only a
    stream that is broken is redirected, so a healthy stderr keeps working.
    """
    try:
        stream.flush()
    except BrokenPipeError:
        pass
    except ValueError:  # already closed: nothing left to flush at exit
        return
    else:
        # The failed flush may have dropped what it held; ask the descriptor itself.
        try:
            if not _reader_gone(stream.fileno()):
                return
        except (OSError, ValueError):  # not backed by a file descriptor (a StringIO, say)
            return
    _to_devnull(stream)
