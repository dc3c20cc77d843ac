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
- on any exception, Ctrl-C included, the temporary is removed and the target is untouched;
- the renames that commit an output run with Ctrl-C and SIGTERM held back (delivered right
  after), so an interrupt never lands between moving an old folder aside and renaming the new
  one in.

Commands that write several files call :func:`check_distinct` first, so no two outputs share a
path and no output is one of the inputs, and write them inside :func:`output_group`, so they
appear together at the end or not at all.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import os
import re
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterable, Iterator

from framefix.io import ClipError

__all__ = ["atomic_output", "check_distinct", "check_output", "output_group", "pending_path"]

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
    if not overwrite or not os.path.lexists(path):
        try:
            os.mkdir(path)  # exclusive: a folder made there meanwhile, even empty, is someone else's
        except FileExistsError:
            if not overwrite:
                raise ClipError(f"{path}: appeared while writing; pass --overwrite to replace it") from None
        else:
            try:
                os.rename(temporary, path)  # onto the empty folder just made: fails if one was filled meanwhile
            except OSError:
                with contextlib.suppress(OSError):
                    os.rmdir(path)  # ours, if still empty
                raise ClipError(f"{path}: appeared while writing; pass --overwrite to replace it") from None
            return
    if not os.path.isdir(path) or os.path.islink(path):
        raise ClipError(f"{path}: is a file, not a folder; refusing to replace it with one")
    _check_replaceable_folder(path, sources)  # again: files may have been added while writing
    # the old folder is moved aside whole, the new one renamed in, then the old one deleted:
    # whatever interrupts this, one of them is complete (and signals are held back meanwhile)
    directory, name = os.path.split(os.path.abspath(path))
    aside = tempfile.mkdtemp(prefix=f".{name}.", suffix=".framefix-old", dir=directory)
    old = os.path.join(aside, name)
    try:
        os.rename(path, old)
        try:
            os.rename(temporary, path)
        except BaseException:
            os.rename(old, path)
            raise
    finally:
        if not os.path.lexists(old) or os.path.isdir(path):
            _remove(aside)


@contextlib.contextmanager
def _signals_held():
    """Ctrl-C and SIGTERM wait until the block is done (main thread only), then act as usual."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []

    def hold(signum, frame):
        caught.append(signum)

    numbers = [getattr(signal, n) for n in ("SIGINT", "SIGTERM") if hasattr(signal, n)]
    previous = {}
    try:
        for number in numbers:
            previous[number] = signal.signal(number, hold)
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler if handler is not None else signal.SIG_DFL)
        if caught:
            handler = previous.get(caught[0])
            if callable(handler):
                handler(caught[0], None)
            elif handler != signal.SIG_IGN:
                signal.raise_signal(caught[0])


@dataclasses.dataclass
class _Pending:
    """An output written to its temporary and waiting for the end of its :func:`output_group`."""

    path: str
    temporary: str
    overwrite: bool
    sources: list
    folder: bool

    def check(self) -> None:
        if os.path.lexists(self.path):
            if not self.overwrite:
                raise ClipError(f"{self.path}: appeared while writing; pass --overwrite to replace it")
            if self.folder:
                if not os.path.isdir(self.path):
                    raise ClipError(f"{self.path}: is a file, not a folder; refusing to replace it with one")
                _check_replaceable_folder(self.path, self.sources)
            elif os.path.isdir(self.path) and not os.path.islink(self.path):
                raise ClipError(f"{self.path}: a folder appeared there while writing; refusing to replace it")

    def commit(self) -> None:
        os.chmod(self.temporary, (0o777 if self.folder else 0o666) & ~_umask())  # mkstemp/mkdtemp make them private
        if self.folder:
            _commit_folder(self.temporary, self.path, self.overwrite, self.sources)
        else:
            _commit_file(self.temporary, self.path, self.overwrite)


_GROUP: contextvars.ContextVar[list | None] = contextvars.ContextVar("framefix_output_group", default=None)


@contextlib.contextmanager
def output_group() -> Iterator[None]:
    """Outputs written inside the block appear together when it ends, or none of them.

    Every :func:`atomic_output` finished inside the block keeps its temporary until the block
    ends without an exception; then all the targets are checked again and renamed into place one
    after the other (signals held back). On an exception every temporary is removed and no
    target is touched. So a command that writes a video and a report never leaves the video
    alone because the report failed.

    Yields
    ------
    None

    Examples
    --------
    >>> with output_group():  # doctest: +SKIP
    ...     process_clip("in.mp4", "out.mp4")
    ...     write_json(analysis, "report.json")  # both appear here, or neither
    """
    pending: list[_Pending] = []
    token = _GROUP.set(pending)
    try:
        yield
        _GROUP.reset(token)
        token = None
        with _signals_held():
            for output in pending:
                output.check()  # all of them first: a late refusal must not leave the others written
            for output in pending:
                output.commit()
    finally:
        if token is not None:
            _GROUP.reset(token)
        for output in pending:
            _remove(output.temporary)  # gone already after a commit


def pending_path(path) -> str:
    """Where an output written inside the current :func:`output_group` can be read before the
    group ends: its temporary, or ``path`` itself when it is not waiting.

    Parameters
    ----------
    path : path-like
        A target given to :func:`atomic_output`.

    Returns
    -------
    str
    """
    path = os.fspath(path)
    for output in _GROUP.get() or ():
        if _same(output.path, path):
            return output.temporary
    return path


def _user_facing(exc: BaseException, temporary: str, path: str) -> ClipError | None:
    """The error as the user should read it (naming ``path``), when it names the hidden temporary."""
    names = [os.fspath(n) for n in (getattr(exc, "filename", None), getattr(exc, "filename2", None)) if n is not None]
    text = str(exc)
    if not any(os.path.abspath(n) == temporary or os.path.abspath(n).startswith(temporary + os.sep) for n in names) \
            and temporary not in text:
        return None
    if isinstance(exc, OSError) and names:
        shown = os.path.abspath(names[0]).replace(temporary, path, 1)
        return ClipError(f"{shown}: cannot write ({exc.strerror or exc})")
    return ClipError(text.replace(temporary, path).splitlines()[0])


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
    group = _GROUP.get()
    keep = False
    try:
        try:
            yield temporary
        except (OSError, ClipError, ValueError) as exc:  # the user's path in the message, not the hidden temporary's
            better = _user_facing(exc, temporary, path)
            if better is not None:
                raise better from exc
            raise
        output = _Pending(path, temporary, overwrite, sources, folder)
        if group is not None:
            group.append(output)  # renamed with the others when the group ends
            keep = True
            return
        with _signals_held():
            output.commit()
    finally:
        if not keep:
            _remove(temporary)  # gone already after a commit
