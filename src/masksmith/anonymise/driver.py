"""The driver of an anonymisation run: what is decided and written in one place, whatever the executor.

The driver walks the input tree and decides, once, which images need work (:meth:`RunDriver.pending`:
done images are skipped, images that only owe their database row get it rebuilt); the executor's
workers do the images (:mod:`~masksmith.anonymise.image_work`); each outcome is settled here, on the
driver's thread, in completion order (:meth:`RunDriver.settle`): every output a worker reports is
checked from here before the image counts, then the summary, the row sink, error outputs, the
notifier and the progress bar are updated.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from masksmith import atomic_io
from masksmith.anonymise.config import AnonymiseConfig
from masksmith.anonymise.image_work import ImageDone, ImageTask, ImageWorker, RemoteImageError
from masksmith.anonymise.metadata import build_metadata
from masksmith.anonymise.summary import AnonymiseSummary
from masksmith.anonymise.walker import (
    ImagePaths,
    PathNotReachableError,
    TreeWalker,
    remove_empty_parents,
    start_walk,
)
from masksmith.errors import MasksmithError
from masksmith.executors import Executor, Finished, run_items
from masksmith.media.io import read_exif, read_image_size

__all__ = [
    "Notifier",
    "NullNotifier",
    "NullSink",
    "OutputMissing",
    "RowNotWritten",
    "RowSink",
    "RunDriver",
    "as_notifier",
    "run_images",
]

_log = logging.getLogger("masksmith.anonymise")


@runtime_checkable
class RowSink(Protocol):
    """Receives one metadata row per finished image (e.g. a database writer)."""

    def add(self, row: Mapping[str, Any]) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class Notifier(Protocol):
    """Sends ``critical``, ``error`` and ``finished`` messages (e.g. by e-mail)."""

    def notify(self, level: str, subject: str, body: str, attachment: Path | None = None) -> None: ...


class NullSink:
    """A sink that drops every row (no database: rows are not part of an image being done)."""

    takes_rows = False

    def add(self, row: Mapping[str, Any]) -> None:
        del row

    def flush(self) -> None:
        return None

    def close(self) -> None:
        return None


class NullNotifier:
    """A notifier that sends nothing."""

    def notify(self, level: str, subject: str, body: str, attachment: Path | None = None) -> None:
        del level, subject, body, attachment


def as_notifier(notifier: Notifier | Callable[..., Any] | None) -> Notifier:
    if notifier is None:
        return NullNotifier()
    if isinstance(notifier, Notifier):
        return notifier
    if callable(notifier):
        function = notifier

        class _Adapter:
            def notify(self, level: str, subject: str, body: str, attachment: Path | None = None) -> None:
                function(level, subject, body, attachment)

        return _Adapter()
    raise TypeError(f"notifier must have notify(level, subject, body, attachment), got {type(notifier)}")


class RowNotWritten(MasksmithError):
    """An image's database row was not written; its files are kept and the row is retried next run."""


class OutputMissing(MasksmithError):
    """An output a worker reported written is not there as the driver sees it."""


class RunDriver:
    """The run-wide state of one ``anonymise`` call, kept and written by the driver only."""

    def __init__(
        self,
        walker: TreeWalker,
        config: AnonymiseConfig,
        *,
        sink: RowSink,
        notifier: Notifier,
        summary: AnonymiseSummary,
        log_file: Path | None,
        remote: bool = False,
    ) -> None:
        self.walker = walker
        self.config = config
        self.sink = sink
        self.notifier = notifier
        self.summary = summary
        self.log_file = log_file
        self.remote = remote  # the workers run in other processes (maybe on other machines)
        self.retry = config.run.file_access_retry_seconds
        self.timeout = config.run.file_access_timeout_seconds
        self.expected_rows: dict[str, ImagePaths] = {}  # primary key -> image, rows added this run
        self.row_errors: dict[str, str] = {}  # primary key -> why add() refused it
        self.retried_rows: set[str] = set()  # keys of rows retried for images done earlier
        self.bar: Any = None

    # --- walking ----------------------------------------------------------------------------

    def start(self, *, clear_cache: bool, progress: bool) -> tuple[Iterable[ImagePaths], Any]:
        """Start the walk (cleaning interrupted images unless ``clear_cache`` is off) and the progress bar."""
        from tqdm import tqdm

        jobs, total, self.summary.cleaned = start_walk(
            self.walker,
            lazy_paths=self.config.run.lazy_paths,
            retry_seconds=self.retry,
            timeout_seconds=self.timeout,
            clear_cache=clear_cache,
        )
        bar = tqdm(
            total=total, desc="anonymise", unit="img", file=sys.stderr, disable=None if progress else True
        )
        self.bar = bar
        return jobs, bar

    def tick(self, bar: Any) -> None:
        """One more image settled: advance the bar and show the counts."""
        summary = self.summary
        bar.set_postfix(done=summary.masked, skipped=summary.skipped, failed=summary.failed, refresh=False)
        bar.update(1)

    def pending(self, jobs: Iterable[ImagePaths]) -> Iterator[ImagePaths]:
        """The images that need work, in walk order: the one place an image is counted and skipped."""
        for paths in jobs:
            self.summary.identified += 1
            if self.settled_before(paths):
                self.tick(self.bar)
                continue
            yield paths

    # --- settling ---------------------------------------------------------------------------

    def settle(self, finished: Finished[ImagePaths, ImageDone]) -> None:
        """Count one image's outcome (on the driver's thread); raises when a shared folder vanished."""
        paths = finished.item
        done = finished.result
        if done is None:  # the task itself was lost (its worker died beyond the retries)
            error = finished.error or RuntimeError("no result")
            lost = RemoteImageError(f"worker lost: {type(error).__name__}: {error}")
            done = ImageDone(None, error=lost.one_line(), failure=None if self.remote else error)
        self.summary.add_timings(done.timings)
        if done.abort:
            if isinstance(done.failure, PathNotReachableError):
                raise done.failure
            raise PathNotReachableError(done.error or "a shared folder is not reachable")
        if done.row is None:
            self.record_failure(paths, done.failure or RemoteImageError(done.error or "failed"))
        else:
            missing = self.missing_output(done.outputs)
            if missing is not None:
                self.record_failure(paths, missing)
            else:
                self.summary.masked += 1
                self.summary.count_hidden(done.row)
                hidden = done.row.get("detekterte_objekter") or {}
                _log.info(
                    "done: %s (%s)",
                    paths.input_file,
                    ", ".join(f"{k} {v}" for k, v in hidden.items()) or "nothing hidden",
                )
                self.add_row(paths, done.row)
                if not self.walker.rows:  # else once its row is written (settle_rows)
                    self.after_done(paths, done.input_size)
        self.tick(self.bar)

    def missing_output(self, outputs: Iterable[str]) -> OutputMissing | None:
        """The first output a worker reported that the driver does not see (or sees empty), as an error."""
        for name in outputs:
            path = Path(name)
            try:
                present = any(path.iterdir()) if path.is_dir() else path.stat().st_size > 0
            except OSError:
                present = False
            if not present:
                return OutputMissing(
                    "written by a worker but missing here: the workers may not share this filesystem "
                    "with the driver (use a shared folder and absolute paths)",
                    file=path,
                )
        return None

    # --- database rows ------------------------------------------------------------------------

    def settled_before(self, paths: ImagePaths) -> bool:
        """Count an image met while walking; True when it needs no detection (done, or only its row owed)."""
        summary = self.summary
        state = self.walker.state(paths)
        if state == "todo":
            return False
        summary.skipped += 1
        if state == "row":
            self.retry_row(paths)
        elif self.config.run.delete_input:
            self.after_done(paths, None)
        return True

    def retry_row(self, paths: ImagePaths) -> None:
        """Rebuild the row of an image whose files are complete (nothing is detected or written again)."""
        record = self.walker.owed_row(paths) or {}
        try:
            info = read_image_size(paths.input_file)
            size: Any = record.get("image_size") or info
            detected: Any = record.get("detected") or []
            stamp = record.get("file_time")
            file_time = datetime.fromisoformat(stamp) if isinstance(stamp, str) else None
            if file_time is None:
                stat = paths.input_file.stat()
                file_time = datetime.fromtimestamp(min(stat.st_mtime, stat.st_ctime))
            row = build_metadata(
                paths.input_file,
                read_exif(paths.input_file),
                config=self.config,
                image_size=(int(size[0]), int(size[1])),
                detected=[str(label) for label in detected],
                file_time=file_time,
            )
        except (MasksmithError, OSError, ValueError, TypeError, IndexError) as exc:
            self.record_failure(
                paths, RowNotWritten(f"database row not rebuilt: {exc}", file=paths.input_file)
            )
            return
        _log.info("retrying the database row of %s", paths.input_file)
        self.retried_rows.add(self.add_row(paths, row))

    def add_row(self, paths: ImagePaths, row: Mapping[str, Any]) -> str:
        """Hand the row of a finished image to the sink (whether it was written is settled at the end);
        returns its key."""
        if not self.walker.rows:
            self.sink.add(row)  # a no-op sink: there is no database
            return ""
        key_of = getattr(self.sink, "row_key", None)
        key = str(key_of(row)) if callable(key_of) else os.fspath(paths.input_file)
        self.expected_rows[key] = paths
        try:
            self.sink.add(row)
        except MasksmithError as exc:
            self.row_errors[key] = exc.one_line()
        except Exception as exc:
            self.row_errors[key] = f"{type(exc).__name__}: {exc}"
        return key

    def settle_rows(self) -> None:
        """After the sink is flushed and closed: count written rows, fail the images whose row was not."""
        if not self.walker.rows:
            return
        written = getattr(self.sink, "written_keys", None)
        reasons: Mapping[str, str] = getattr(self.sink, "rejections", {})
        for key, paths in self.expected_rows.items():
            error = self.row_errors.get(key)
            if error is None and written is not None and key not in written:
                error = reasons.get(key) or "not written (database unreachable?); cached and retried next run"
            if error is None:
                self.summary.rows += 1
                self.walker.row_written(paths)
                self.after_done(paths, None)
                continue
            if key in self.retried_rows:
                self.summary.skipped -= 1
            else:
                self.summary.masked -= 1
            self.record_failure(
                paths, RowNotWritten(f"database row not written: {error}", file=paths.input_file)
            )

    def after_done(self, paths: ImagePaths, input_size: int | None) -> None:
        """Drop stale error outputs; delete the input when configured (outputs already verified)."""
        for stale in (paths.error_file, paths.error_text):
            stale.unlink(missing_ok=True)
        if not self.config.run.delete_input:
            return
        archive = paths.archive_file
        if archive is None or not archive.is_file():
            return
        if input_size is None:
            input_size = paths.input_file.stat().st_size
        if archive.stat().st_size != input_size:
            _log.error("%s not deleted: its archive copy differs in size", paths.input_file)
            return
        paths.input_file.unlink(missing_ok=True)
        remove_empty_parents(paths.input_file.parent, self.walker.input_dir)

    def record_failure(self, paths: ImagePaths, err: BaseException) -> None:
        message = err.one_line() if isinstance(err, MasksmithError) else f"{type(err).__name__}: {err}"
        self.summary.failed += 1
        self.summary.errors.append(f"{paths.input_file}: {message}")
        trace = None if isinstance(err, MasksmithError) else err  # a bug's traceback goes to the log
        _log.error("%s failed: %s", paths.input_file, message, exc_info=trace)
        try:
            if paths.input_file.is_file():
                with atomic_io.atomic_path(paths.error_file, durable=False, make_parents=True) as temp:
                    shutil.copyfile(paths.input_file, temp)
            atomic_io.write_text(paths.error_text, message + "\n", make_parents=True)
        except OSError as exc:
            _log.error("could not write the error outputs of %s: %s", paths.input_file, exc)
        if self.config.email.processing_error_email:
            self.notify("error", "Processing error encountered.", f"{paths.input_file}\n{message}")

    def notify(self, level: str, subject: str, body: str) -> None:
        attach = self.log_file if self.config.email.email_attach_log_file and self.log_file else None
        text = "\n".join(
            ["_" * 50, f"Hostname: {socket.gethostname()}", f"Time: {datetime.now():%Y-%m-%d %H:%M:%S}",
             f"Log file: {self.log_file}", "_" * 50, body]
        )  # fmt: skip
        try:
            self.notifier.notify(
                level, f"[masksmith anonymise] {socket.gethostname()} : {subject}", text, attach
            )
        except Exception as exc:  # a failed e-mail is logged, never fatal
            _log.error("could not send the %s notification: %s", level, exc)


def run_images(
    driver: RunDriver,
    executor: Executor,
    *,
    setup: Callable[[], ImageWorker],
    progress: bool,
    clear_cache: bool,
    window: int | None = None,
) -> None:
    """Walk, skip what is done, run every other image on ``executor`` and settle each here."""
    jobs, bar = driver.start(clear_cache=clear_cache, progress=progress)
    stop = None if driver.remote else threading.Event()
    task = ImageTask(remote=driver.remote, stop=stop)
    try:
        run_items(
            executor, driver.pending(jobs), setup=setup, task=task, settle=driver.settle, name="anonymise",
            window=window,
        )  # fmt: skip
    except BaseException:
        if stop is not None:
            stop.set()  # images queued on the local threads end at once
        raise
    finally:
        bar.close()
        try:
            driver.sink.flush()
        finally:
            driver.sink.close()
    driver.settle_rows()
    with contextlib.suppress(OSError):
        driver.walker.inflight_dir.rmdir()
