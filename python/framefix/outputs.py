"""The one way framefix writes to disk: checked, into a unique temporary beside the target, renamed.

Every writer (videos, image folders, reports, plots, ``.flo``, ``.cube``, color transforms, heat
maps) goes through :func:`atomic_output`:

- the target is checked first: never an input (by path or as the same file), never an existing
  file or folder unless ``overwrite``, a folder replaced only when it holds nothing but numbered
  images (an earlier output) and not the input, and its parent folder must exist;
- the writer gets a fresh temporary path beside the target (created exclusively with a random
  name, hidden, keeping the extension since some writers choose the format by it), so a symlink
  planted there is never followed and two runs never share a temporary;
- on success the temporary gets the permissions any new file would get (the umask) and is
  renamed into place, after the target is checked again (something may have appeared there
  meanwhile); an existing folder is moved aside first, so either the old or the new output is
  whole at any moment;
- on any exception, Ctrl-C included, the temporary is removed and the target is untouched.

Commands that write several files call :func:`check_distinct` first, so no two outputs share a
path and no output is one of the inputs.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator

from framefix.io import ClipError

__all__ = ["atomic_output", "check_distinct", "check_output"]

# an earlier output's frames: what a folder may hold for framefix to replace it
_WRITTEN_IMAGE = re.compile(r"\d+\.(png|tif|tiff)")
_TEMPORARY_MARK = ".framefix-tmp"


def _paths(values: Iterable) -> list[str]:
    return [os.fspath(v) for v in values if v is not None]


def _same(a: str, b: str) -> bool:
    """The same file: one path (symlinks and ``..`` resolved) or two links to one file."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return False


def _inside(path: str, folder: str) -> bool:
    return os.path.realpath(path).startswith(os.path.realpath(folder) + os.sep)


def check_distinct(inputs: Iterable = (), outputs: Iterable = ()) -> None:
    """Refuse a set of outputs of which two name the same file or one names an input.

    Parameters
    ----------
    inputs : iterable of path-like
        What the command reads (``None`` entries are ignored).
    outputs : iterable of path-like
        What the command writes (``None`` entries are ignored).

    Raises
    ------
    ClipError
        Two outputs are the same file, or an output is an input.

    Examples
    --------
    >>> check_distinct(["in.mp4"], ["report.json", "plot.png"])
    >>> check_distinct(["in.mp4"], ["a.json", "./a.json"])
    Traceback (most recent call last):
    ...
    framefix.io.ClipError: ./a.json: named for two outputs (also a.json); give each its own path
    """
    sources, targets = _paths(inputs), _paths(outputs)
    for i, target in enumerate(targets):
        for earlier in targets[:i]:
            if _same(target, earlier):
                raise ClipError(f"{target}: named for two outputs (also {earlier}); give each its own path")
        for source in sources:
            if _same(target, source):
                raise ClipError(f"{target}: output is the input; write somewhere else")


def check_output(path, *, overwrite: bool = False, inputs: Iterable = (), folder: bool = False) -> str:
    """Check that ``path`` may be written (see :func:`atomic_output`) without writing anything.

    Parameters
    ----------
    path : path-like
        The target file, or folder with ``folder``.
    overwrite : bool
        Allow replacing an existing target.
    inputs : iterable of path-like
        Paths the caller reads; the target may be none of them (nor a folder holding one).
    folder : bool
        The target is a folder of numbered images.

    Returns
    -------
    str
        ``path`` as a string.

    Raises
    ------
    ClipError
        With a one-line message naming ``path``.
    """
    path = os.fspath(path)
    sources = _paths(inputs)
    check_distinct(sources, [path])
    if os.path.lexists(path):
        if not overwrite:
            raise ClipError(f"{path}: already exists; pass --overwrite to replace it")
        if folder and not os.path.isdir(path):
            raise ClipError(f"{path}: is a file, not a folder; refusing to replace it with one")
        if not folder and os.path.isdir(path):
            raise ClipError(f"{path}: is a folder; refusing to replace it with a file")
        if folder:
            _check_replaceable_folder(path, sources)
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise ClipError(f"{path}: folder {parent} does not exist")
    return path


def _check_replaceable_folder(path: str, sources: list[str]) -> None:
    # Replacing a folder deletes it: only ever one holding nothing but numbered image files (an
    # earlier output; a subfolder named like a frame does not count), never one an input is in.
    if os.path.islink(path):
        raise ClipError(f"{path}: is a symbolic link; refusing to replace it")
    for source in sources:
        if _inside(source, path):
            raise ClipError(f"{path}: the input is inside this folder; write somewhere else")
    with os.scandir(path) as entries:
        for entry in entries:
            if not (_WRITTEN_IMAGE.fullmatch(entry.name) and entry.is_file(follow_symlinks=False)):
                raise ClipError(f"{path}: folder holds other files ({entry.name}...); refusing to replace it")


def _umask() -> int:
    """The process's umask, read without changing it where the OS tells (Linux), else briefly set."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.remove(path)


def _temporary(path: str, folder: bool) -> str:
    directory, name = os.path.split(os.path.abspath(path))
    if folder:
        return tempfile.mkdtemp(prefix=f".{name}.", suffix=_TEMPORARY_MARK, dir=directory)
    stem, extension = os.path.splitext(name)
    handle, temporary = tempfile.mkstemp(prefix=f".{stem}.", suffix=f"{_TEMPORARY_MARK}{extension}", dir=directory)
    os.close(handle)
    return temporary


def _commit_file(temporary: str, path: str, overwrite: bool) -> None:
    if overwrite:
        if os.path.isdir(path) and not os.path.islink(path):
            raise ClipError(f"{path}: a folder appeared there while writing; refusing to replace it")
        os.replace(temporary, path)
        return
    try:
        os.link(temporary, path)  # fails if anything exists there: no silent replace, even in a race
    except FileExistsError:
        raise ClipError(f"{path}: appeared while writing; pass --overwrite to replace it") from None
    except OSError:  # a file system without hard links: check, then rename
        if os.path.lexists(path):
            raise ClipError(f"{path}: appeared while writing; pass --overwrite to replace it") from None
        os.replace(temporary, path)
        return
    os.remove(temporary)


def _commit_folder(temporary: str, path: str, overwrite: bool, sources: list[str]) -> None:
    if not os.path.lexists(path):
        try:
            os.rename(temporary, path)  # an empty folder made there meanwhile is replaced: harmless
        except OSError:
            if os.path.lexists(path):  # a folder with files in it, made there meanwhile
                raise ClipError(f"{path}: appeared while writing; pass --overwrite to replace it") from None
            raise
        return
    if not overwrite:
        raise ClipError(f"{path}: appeared while writing; pass --overwrite to replace it")
    if not os.path.isdir(path):
        raise ClipError(f"{path}: is a file, not a folder; refusing to replace it with one")
    _check_replaceable_folder(path, sources)  # again: files may have been added while writing
    # the old folder is moved aside whole, the new one renamed in, then the old one deleted:
    # whatever interrupts this, one of them is complete
    directory, name = os.path.split(os.path.abspath(path))
    aside = tempfile.mkdtemp(prefix=f".{name}.", suffix=".framefix-old", dir=directory)
    old = os.path.join(aside, name)
    os.rename(path, old)
    try:
        os.rename(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.rename(old, path)
        raise
    finally:
        if not os.path.lexists(old) or os.path.isdir(path):
            _remove(aside)


@contextlib.contextmanager
def atomic_output(path, *, overwrite: bool = False, inputs: Iterable = (), folder: bool = False) -> Iterator[str]:
    """Write ``path`` safely: yields a temporary path to write, renamed to ``path`` on success.

    Parameters
    ----------
    path : path-like
        The file (or, with ``folder``, the folder) to produce.
    overwrite : bool
        Replace an existing target. A folder is replaced only when it holds nothing but numbered
        image files (``00000.png``...) and no input.
    inputs : iterable of path-like
        What the caller reads: the target may not be any of them (compared as files, so a
        symlink or a hard link to an input counts), nor a folder containing one.
    folder : bool
        Yield a new empty folder instead of a file.

    Yields
    ------
    str
        A temporary path beside ``path``, unique and created exclusively (an empty file, or an
        empty folder), hidden, ending with ``path``'s extension.

    Raises
    ------
    ClipError
        Before anything is written, when the target is an input, exists without ``overwrite``,
        is a folder that holds other files, or its parent folder is missing; at the end, when
        something appeared at the target while writing (without ``overwrite``).

    Examples
    --------
    >>> with atomic_output("report.json", overwrite=True) as temporary:  # doctest: +SKIP
    ...     with open(temporary, "w") as f:
    ...         f.write("{}")
    """
    path = os.fspath(path)
    sources = _paths(inputs)
    check_output(path, overwrite=overwrite, inputs=sources, folder=folder)
    temporary = _temporary(path, folder)
    try:
        try:
            yield temporary
        except OSError as exc:  # the user's path in the message, not the hidden temporary's
            if exc.filename is not None and os.path.abspath(os.fspath(exc.filename)) == temporary:
                raise ClipError(f"{path}: cannot write ({exc.strerror or exc})") from exc
            raise
        os.chmod(temporary, (0o777 if folder else 0o666) & ~_umask())  # mkstemp/mkdtemp make them private
        if folder:
            _commit_folder(temporary, path, overwrite, sources)
        else:
            _commit_file(temporary, path, overwrite)
    finally:
        _remove(temporary)  # gone already after a commit
