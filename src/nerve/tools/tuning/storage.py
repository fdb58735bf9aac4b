"""Where a study lives: in memory, in a SQLite file (the default for saved studies), a journal file, or PostgreSQL.

* ``None``: in memory (one process; gone when it exits).
* ``"study.db"`` or ``"sqlite:///path/study.db"``: a SQLite file; no server, shared by
  the worker processes of one machine (WAL mode and a 60 s lock timeout).
* ``"study.log"`` / ``"journal:///path/study.log"``: Optuna's journal file (append-only, file lock).
* ``"postgresql://user:password@host:5432/db"``: a server that workers on many machines share.

:func:`open_storage` connects at once, so an unreachable server or a missing
folder is a clear :class:`StorageError` before any training.

Examples:
    >>> storage_url("study.db").startswith("sqlite:///")
    True
    >>> mask_password("postgresql://nerve:secret@db:5432/tuning")
    'postgresql://nerve:***@db:5432/tuning'
"""

from __future__ import annotations

import os
import re
import warnings


class StorageError(RuntimeError):
    """The study storage cannot be opened (server down, wrong URL, missing folder or driver).

    Examples:
        >>> issubclass(StorageError, RuntimeError)
        True
    """


def optuna_module():
    """Import Optuna, or raise an ImportError that names the extra to install.

    Examples:
        >>> optuna_module().__name__  # doctest: +SKIP
        'optuna'
    """
    try:
        import optuna
    except ImportError as error:
        raise ImportError(
            "nerve.tuning needs Optuna, which is not installed: pip install \"nerve[tune]\" (or pip install optuna)"
        ) from error
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def mask_password(url):
    """The URL with its password replaced by ``***`` (for messages and logs).

    Examples:
        >>> mask_password("sqlite:///a.db")
        'sqlite:///a.db'
    """
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", str(url))


def storage_url(storage):
    """Normalise a storage argument to a URL string (None stays None).

    Plain paths become ``sqlite:///ABSOLUTE`` (``.log``/``.journal`` files: ``journal:///ABSOLUTE``).

    Examples:
        >>> storage_url(None) is None
        True
        >>> storage_url("postgresql://u@h/db")
        'postgresql://u@h/db'
    """
    if storage is None:
        return None
    text = os.fspath(storage) if not isinstance(storage, str) else storage
    if "://" in text:
        return text
    path = os.path.abspath(os.path.expanduser(text))
    if path.endswith((".log", ".journal")):
        return "journal:///" + path.lstrip("/")
    return "sqlite:///" + path


def _sqlite_path(url):
    return url[len("sqlite:///"):] if url.startswith("sqlite:///") else None


def _check_folder(path, url):
    folder = os.path.dirname(os.path.abspath(path)) or "."
    if not os.path.isdir(folder):
        raise StorageError(f"cannot open the study storage {mask_password(url)}: the folder {folder} does not exist")


def _enable_wal(path):
    """WAL journal mode lets readers and one writer work at once (persists in the file)."""
    import sqlite3

    connection = sqlite3.connect(path, timeout=60)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
    finally:
        connection.close()


def open_storage(storage, heartbeat=True):
    """An Optuna storage object for ``storage`` (see the module docstring), connected now.

    Raises :class:`StorageError` with the (password-masked) URL and the reason
    when it cannot be reached.

    Examples:
        >>> open_storage("/no/such/folder/study.db")  # doctest: +SKIP
        Traceback (most recent call last):
        ...
        nerve.tuning.storage.StorageError: cannot open the study storage sqlite:////no/such/folder/study.db: the folder /no/such/folder does not exist
    """
    optuna = optuna_module()
    url = storage_url(storage)
    if url is None:
        return optuna.storages.InMemoryStorage()
    if not isinstance(storage, str) and not hasattr(storage, "__fspath__"):
        return storage  # already an Optuna storage object
    if url.startswith("journal:///"):
        path = "/" + url[len("journal:///"):].lstrip("/")
        _check_folder(path, url)
        from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

        return optuna.storages.JournalStorage(JournalFileBackend(path, lock_obj=JournalFileOpenLock(path)))
    engine_kwargs = {}
    path = _sqlite_path(url)
    if path is not None:
        _check_folder(path, url)
        try:
            _enable_wal(path)
        except Exception as error:  # noqa: BLE001 - reported with the URL
            raise StorageError(f"cannot open the study storage {mask_password(url)}: {error}") from None
        engine_kwargs = {"connect_args": {"timeout": 60}}
    elif url.startswith(("postgresql", "postgres")):
        engine_kwargs = {"connect_args": {"connect_timeout": 10}, "pool_pre_ping": True}
    elif url.startswith("mysql"):
        engine_kwargs = {"pool_pre_ping": True}
    kwargs = {"heartbeat_interval": 30, "grace_period": 120} if heartbeat else {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeat_interval
            return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, **kwargs)
    except ModuleNotFoundError as error:
        hint = " (pip install \"nerve[tune]\" installs psycopg2-binary for PostgreSQL)" if "psycopg" in str(error) else ""
        raise StorageError(f"cannot open the study storage {mask_password(url)}: the database driver is missing: "
                           f"{error}{hint}") from None
    except Exception as error:  # noqa: BLE001 - SQLAlchemy/driver errors vary; report them with the URL
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()
        reason = reason[0] if reason else type(error).__name__
        raise StorageError(
            f"cannot open the study storage {mask_password(url)}: {reason}. Check the host, port, user, password "
            "and database name, and that the server is running; or use a local SQLite file, e.g. storage='study.db'"
        ) from None
