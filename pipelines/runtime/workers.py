"""Where a search's trials run: in this process, or in worker processes that this process feeds to MLflow.

Workers relay their tracking calls and progress events to the starting process,
so it alone writes to MLflow (SQLite takes one writer at a time).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import queue
import signal
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kerashpo.pipelines.runtime.compute import Compute
from kerashpo.pipelines.waiting import wait_until
from kerashpo.search.protocols import SearchDriver, Tracker
from kerashpo.search.training.interrupts import exit_at_safe_point, interrupts_at_safe_points, stop_requested
from kerashpo.spaces import UserError

if TYPE_CHECKING:  # a spawned worker imports this module first: TensorFlow must start quietly, later
    from kerashpo.search.executor import SearchJob, SearchOutcome, TrialEvent

log = logging.getLogger("kerashpo.run")

OnTrialEnd = Callable[["TrialEvent"], None]


def search_in_processes(driver: SearchDriver, job: SearchJob, tracker: Tracker, on_trial_end: OnTrialEnd | None,
                        compute: Compute) -> SearchOutcome:
    """Run the search here, or in worker processes; return its outcome.

    One worker: every trial runs here (memory stays flat: ``search.memory``),
    unless ``trials_per_process`` asks for a chain of fresh processes, for a
    builder that leaks what a trial cannot give back; both drivers resume from
    their storage. Sources that cannot be sent to another process (a function
    defined in ``__main__``) stay here.

    Several workers (Optuna): ``compute.workers`` processes share the study from
    the start; a worker that dies is replaced and its trial retried.
    """
    if compute.workers > 1:
        WorkerPool(driver, job, tracker, on_trial_end, compute).run()
        # Every worker has stopped with the budget spent or the time up: this reads the study, trains nothing.
        job.trials_per_process = None
        return driver.optimize(job, tracker)
    if job.trials_per_process is not None and job.n_trials > job.trials_per_process:
        reason = not_portable(driver, job)
        if reason:
            log.warning("running every trial in this process: %s", reason)
            job.trials_per_process = None
    else:
        job.trials_per_process = None
    # The first share runs here: TensorFlow is already loaded in this process.
    with interrupts_at_safe_points():
        outcome = driver.optimize(job, tracker, on_trial_end)
    if outcome.handed_over:
        outcome = WorkerPool(driver, job, tracker, on_trial_end, compute).run()
    return outcome


class WorkerPool:
    """Keeps ``compute.workers`` worker processes going until the search is done.

    A worker that hands over (its share of trials done) or dies is replaced;
    Ctrl-C reaches every worker, each marks its trial, and the interrupt is
    raised here once they have stopped.
    """

    def __init__(self, driver: SearchDriver, job: SearchJob, tracker: Tracker, on_trial_end: OnTrialEnd | None,
                 compute: Compute):
        self.tracker, self.on_trial_end, self.compute = tracker, on_trial_end, compute
        self.context = worker_context()
        self.relay = self.context.Queue()
        # Sent as bytes so a fresh process starts TensorFlow quietly before unpickling the job.
        self.payload = pickle.dumps((driver, job))
        self.outcome: SearchOutcome | None = None
        self.handing_over: set[int] = set()
        self.deaths = 0
        self.interrupted = False
        self.stopped: str | None = None  # why a worker stopped the search

    def run(self) -> SearchOutcome:
        """The last outcome a worker reported; raises ``KeyboardInterrupt`` after Ctrl-C."""
        # Ctrl-C reaches the workers too: each stops at a safe point and reports; this loop keeps relaying.
        with interrupts_at_safe_points():
            slots = {slot: self._start(slot) for slot in range(self.compute.workers)}
            while slots:
                self._receive(timeout=0.2)
                if self.stopped is not None:  # the others would fail the same way
                    for worker in slots.values():
                        worker.terminate()
                self.interrupted = self.interrupted or stop_requested()
                for slot, worker in list(slots.items()):
                    if not worker.is_alive():
                        worker.join()
                        # A process flushes its queue before it exits: read all it sent, its outcome included,
                        # before deciding whether it handed over (messages queue up behind each other).
                        while self._receive(timeout=0.05):
                            pass
                        self._replace_or_retire(slots, slot, worker.exitcode)
        while self._receive(timeout=0.5):  # what the last workers sent before they stopped
            pass
        if self.interrupted:
            raise KeyboardInterrupt
        if self.stopped is not None:
            raise UserError(self.stopped)
        if self.outcome is None:
            raise RuntimeError("the search workers stopped without reporting an outcome")
        return self.outcome

    def _start(self, slot: int) -> Any:
        worker = self.context.Process(target=_search_worker, name=f"kerashpo-worker-{slot}",
                                      args=(self.payload, slot, self.compute, self.relay, os.getpid()))
        worker.start()
        return worker

    def _receive(self, timeout: float) -> bool:
        """Handle one message from a worker; False when none came."""
        try:
            kind, *body = self.relay.get(timeout=timeout)
        except queue.Empty:
            return False
        if kind == "done":
            slot, self.outcome = body
            if self.outcome is not None and self.outcome.handed_over:
                self.handing_over.add(slot)
        elif kind == "track":
            method, args = body
            getattr(self.tracker, method)(*args)
        elif kind == "stopped":
            self.stopped = body[0]
        elif kind == "event" and self.on_trial_end is not None:
            self.on_trial_end(body[0])
        return True

    def _replace_or_retire(self, slots: dict[int, Any], slot: int, exitcode: int | None) -> None:
        if self.stopped is not None:
            del slots[slot]
        elif exitcode in (-signal.SIGINT, 130) or self.interrupted:
            self.interrupted = True
            del slots[slot]
        elif exitcode == 0:
            if slot in self.handing_over:
                self.handing_over.discard(slot)
                slots[slot] = self._start(slot)
            else:
                del slots[slot]
        else:
            self.deaths += 1
            if self.deaths > 3 * self.compute.workers:
                raise RuntimeError(f"search workers keep stopping (last exit code {exitcode}); "
                                   "run the same command again to resume")
            log.warning("worker %d stopped (exit code %s); a fresh one retries its trial", slot, exitcode)
            slots[slot] = self._start(slot)


def worker_context() -> Any:
    """Workers are forks of a fork server that imported TensorFlow once (``worker_start``), not fresh
    interpreters: a worker, a replacement for a dead one or the next of a chain starts in about a second.

    The server also imports the starting script (``__main__``), as a spawned process would, so a build function
    defined in a user's script unpickles in the worker. It never starts TensorFlow's runtime (CUDA is
    initialised in each worker, after ``Compute.worker_env``), ignores Ctrl-C (the workers get it) and exits
    when the starting process dies, after which ``_exit_with_parent`` stops its workers.
    """
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["__main__", "kerashpo.pipelines.runtime.worker_start"])
    return context


def start_worker_server() -> None:
    """Start the fork server now, so that its TensorFlow import (``benchmarks/startup.py`` times one) runs beside
    this process's own start-up and preparation (the data, the checks, the baseline) instead of after them; workers
    fork from it later."""
    import multiprocessing.forkserver

    worker_context()
    multiprocessing.forkserver.ensure_running()


def not_portable(driver: SearchDriver, job: SearchJob) -> str | None:
    """Why the driver and job cannot be sent to a fresh process, or None.

    A function defined in an interactive ``__main__`` pickles by name but
    cannot be found again in a spawned process.
    """
    try:
        pickle.dumps((driver, job))
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    from kerashpo.search.training.sources import HyperModelSource

    if not isinstance(job.source, HyperModelSource):
        return None
    hypermodel = job.source.hypermodel
    module = getattr(hypermodel, "__module__", None) or type(hypermodel).__module__
    if module == "__main__" and not getattr(sys.modules["__main__"], "__file__", None):
        return "the build function is defined interactively; put it in a module to run long searches flat"
    return None


def _exit_with_starter(starter: int) -> None:
    """A worker whose starting process died (kill -9) stops too, as if killed with it.

    Its running trial is then lost like any killed worker's: the next run fails it
    in the study and in MLflow and tries it again. (The worker's parent is the fork
    server, which outlives the starting process while any worker runs.)
    """
    wait_until(lambda: not _running(starter), None, every=1, what="the starting process's exit")
    # Not between asking for a trial and tagging it with this worker: untagged, no later run could tell
    # that its RUNNING trial was lost, and it would hold a place in the budget for good.
    exit_at_safe_point(1)


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists and has not exited (a killed process stays a zombie until reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: the process table
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def _search_worker(payload: bytes, slot: int, compute: Compute, relay: Any, starter: int) -> None:
    threading.Thread(target=_exit_with_starter, args=(starter,), daemon=True).start()
    os.environ.update(compute.worker_env(slot))
    from kerashpo.pipelines.runtime.quiet import import_backend_quietly, quiet_libraries

    quiet_libraries()
    import_backend_quietly()
    compute.configure_backend()
    from kerashpo.search.tracking import RelayTracker

    driver, job = pickle.loads(payload)
    job.worker = slot
    try:
        with interrupts_at_safe_points():
            outcome = driver.optimize(job, RelayTracker(relay), lambda event: relay.put(("event", event)))
    except KeyboardInterrupt:
        sys.exit(130)
    except UserError as exc:  # the search cannot go on: the starting process says why, in one line
        relay.put(("stopped", str(exc)))
        return
    relay.put(("done", slot, outcome))
