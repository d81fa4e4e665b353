"""The one exception type users see, and the one line every other error becomes at the command line.

Everything a user can get wrong (unknown model, bad shape, missing file, corrupt checkpoint) is raised as
`GenzooError` with a single plain sentence; the CLI prints it on one line and exits with code 2. Bugs stay
ordinary exceptions so they keep their tracebacks under GENZOO_DEBUG=1.
"""

from __future__ import annotations

import errno


class GenzooError(Exception):
    """A user-facing error: one line that names what is wrong and, where possible, how to fix it."""


#: exception classes (by module and name, so nothing heavy is imported here) that a bad argument, file or
#: option causes inside a library: Lightning's refusal of an accelerator, a safetensors file that is not one
_USER_CAUSED = {
    ("lightning.fabric.utilities.exceptions", "MisconfigurationException"),
    ("safetensors_rust", "SafetensorError"),
    ("safetensors._safetensors_rust", "SafetensorError"),
    ("PIL.Image", "DecompressionBombError"),
}


#: how torch's allocator words a refusal (a RuntimeError, not a MemoryError)
_OUT_OF_MEMORY = ("can't allocate memory", "not enough memory", "out of memory", "Storage size calculation overflowed")


def user_error(e: BaseException) -> tuple[str, int]:
    """The one stderr line and exit code for `e`: 2 for what the user caused (an argument, a file, a path,
    memory asked for), 1 for a bug, which says how to see its traceback."""
    if isinstance(e, GenzooError):
        return f"genzoo: error: {_one_line(str(e))}", 2
    if isinstance(e, RecursionError):
        return "genzoo: error: an input (JSON or nested list) is nested too deeply to read", 2
    if isinstance(e, MemoryError) or type(e).__name__ == "OutOfMemoryError" or (
            isinstance(e, RuntimeError) and any(m in str(e) for m in _OUT_OF_MEMORY)):
        return ("genzoo: error: out of memory: the request needs more memory than this machine has "
                "(try a smaller -n, --batch-size or model)"), 2
    if isinstance(e, OSError) and not _is_lib_bug(e):
        return f"genzoo: error: {_os_error(e)}", 2
    if isinstance(e, UnicodeError):
        return f"genzoo: error: a text input is not valid UTF-8 ({_one_line(str(e))})", 2
    if isinstance(e, ValueError) or (type(e).__module__, type(e).__name__) in _USER_CAUSED:
        return f"genzoo: error: {_one_line(str(e)) or type(e).__name__}", 2
    return (f"genzoo: internal error: {type(e).__name__}: {_one_line(str(e))} "
            "(rerun with GENZOO_DEBUG=1 for the traceback)"), 1


def _is_lib_bug(e: OSError) -> bool:
    """An OSError with neither errno nor file name is a library's complaint (PIL raises them), not the disk's."""
    return e.errno is None and e.filename is None and not str(e)


def _os_error(e: OSError) -> str:
    """`cannot write /x/y.png: permission denied` rather than `[Errno 13] Permission denied: '/x/y.png'`."""
    if e.errno is None:
        return _one_line(str(e))
    what = (e.strerror or errno.errorcode.get(e.errno, "error")).lower()
    if e.errno == errno.ENOSPC:
        what = "no space left on the device"
    names = [str(n) for n in (e.filename, e.filename2) if n is not None]
    return f"{' -> '.join(names)}: {what}" if names else what


def _one_line(message: str) -> str:
    """The message on one line: its non-empty lines joined, so nothing is cut and nothing wraps."""
    return " ".join(line.strip() for line in message.splitlines() if line.strip())
