"""Where jobs run: local worker processes, or actors on a Ray cluster. Both take job specs
and give back (job id, outcome) as jobs finish; neither touches the manifest.

Outcomes: ("done", summary), ("failed", reason) when the input or a setting is at fault,
("crashed", reason) when the worker itself died (the job may be innocent: it is counted
and tried again while it has attempts left).
"""

from __future__ import annotations

import os
import socket
import traceback
from collections.abc import Iterator
from typing import Any

from ripple.batch.config import BatchConfig
from ripple.batch.jobs import JobRunner, JobSpec
from ripple.errors import ModelError, RippleError

Outcome = tuple[int, str, Any]  # job id, "done" | "failed" | "crashed", summary or reason

_runner: JobRunner | None = None  # one per worker process


def _init_worker(cfg: BatchConfig, threads: int) -> None:
    global _runner
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    _runner = JobRunner(cfg, threads)


def _run_in_worker(job: JobSpec) -> tuple[str, Any]:
    return run_guarded(_runner, job)


def run_guarded(runner: JobRunner, job: JobSpec) -> tuple[str, Any]:
    """A job's outcome as data: a person's error or our own bug both fail the job, not the batch."""
    try:
        return "done", runner.run(job)
    except RippleError as exc:
        return "failed", str(exc)
    except Exception as exc:  # noqa: BLE001 - one bad input must not end a batch of hundreds
        where = traceback.extract_tb(exc.__traceback__)[-1]
        return "failed", f"internal error: {type(exc).__name__}: {exc} ({os.path.basename(where.filename)}:{where.lineno})"


def threads_per_worker(workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // workers)


class LocalEngine:
    """A pool of `workers` processes (spawned: torch and fork do not mix)."""

    def __init__(self, cfg: BatchConfig):
        self.cfg = cfg
        self.pool = None

    def _start(self):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.pool = ProcessPoolExecutor(
            max_workers=self.cfg.workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker, initargs=(self.cfg, threads_per_worker(self.cfg.workers)),
        )

    def run(self, jobs: list[JobSpec], on_start) -> Iterator[Outcome]:
        from concurrent.futures import FIRST_COMPLETED, wait
        from concurrent.futures.process import BrokenProcessPool

        queue = list(jobs)
        running: dict = {}
        self._start()
        try:
            while queue or running:
                while queue and len(running) < self.cfg.workers:
                    job = queue.pop(0)
                    on_start(job, f"local:{len(running)}")
                    running[self.pool.submit(_run_in_worker, job)] = job
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                broken = False
                for future in finished:
                    job = running.pop(future)
                    try:
                        status, value = future.result()
                    except BrokenProcessPool:
                        broken = True
                        yield job.id, "crashed", "a worker process died while running it"
                        continue
                    yield job.id, status, value
                if broken:  # every job still in the broken pool shares its fate; start a new pool
                    for future, job in running.items():
                        yield job.id, "crashed", "a worker process died while it ran"
                    running.clear()
                    self.pool.shutdown(wait=False, cancel_futures=True)
                    self._start()
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)


class RayEngine:
    """`workers` Ray actors, each a JobRunner that keeps its models between jobs. The cluster
    must see the source and output folders at the same paths (a shared disk)."""

    def __init__(self, cfg: BatchConfig):
        self.cfg = cfg

    def run(self, jobs: list[JobSpec], on_start) -> Iterator[Outcome]:
        _check_reachable(self.cfg.address)
        try:
            import ray
        except ImportError as exc:
            raise ModelError("--engine ray needs Ray: pip install 'ray>=2.40'") from exc
        from ray.exceptions import RayActorError, WorkerCrashedError

        try:
            ray.init(address=self.cfg.address, logging_level="ERROR", log_to_driver=False,
                     configure_logging=False, include_dashboard=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise RippleError(f"--address {self.cfg.address}: cannot join the Ray cluster: "
                              f"{str(exc).strip().splitlines()[0]}") from None
        try:
            actor_class = ray.remote(num_cpus=1, max_restarts=0)(_RayWorker)
            actors = [actor_class.remote(self.cfg, 1) for _ in range(self.cfg.workers)]
            idle, queue, running = list(range(len(actors))), list(jobs), {}
            while queue or running:
                while queue and idle:
                    slot, job = idle.pop(0), queue.pop(0)
                    on_start(job, f"ray:{slot}")
                    running[actors[slot].run.remote(job)] = (slot, job)
                done, _ = ray.wait(list(running), num_returns=1)
                for ref in done:
                    slot, job = running.pop(ref)
                    try:
                        status, value = ray.get(ref)
                    except (RayActorError, WorkerCrashedError) as exc:
                        actors[slot] = actor_class.remote(self.cfg, 1)  # a fresh worker in its place
                        yield job.id, "crashed", f"its Ray worker died: {type(exc).__name__}"
                    else:
                        yield job.id, status, value
                    idle.append(slot)
        finally:
            ray.shutdown()


def _check_reachable(address: str | None) -> None:
    """A HOST:PORT that answers nothing is refused at once: ray.init would retry for minutes."""
    if not address or address == "auto" or "://" in address or ":" not in address:
        return
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except ValueError:
        raise RippleError(f"--address {address}: expected HOST:PORT of a Ray head") from None
    except OSError as exc:
        raise RippleError(f"--address {address}: cannot join the Ray cluster: nothing answers there "
                          f"({exc.strerror or exc})") from None


class _RayWorker:
    def __init__(self, cfg: BatchConfig, threads: int):
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        self.runner = JobRunner(cfg, threads)

    def run(self, job: JobSpec) -> tuple[str, Any]:
        return run_guarded(self.runner, job)


ENGINES = {"local": LocalEngine, "ray": RayEngine}
