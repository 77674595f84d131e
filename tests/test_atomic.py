"""Crash-safe saves: a kill injected before every step of ``save()``, alone and in any sequence, never loses the
last complete index, and the next save or load removes what the killed saves left."""

from __future__ import annotations

import itertools
import os
import random
import signal
from pathlib import Path

import pytest

from hybrid import atomic
from hybrid.engine import HybridEngine, IndexCorruptError

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="kills a forked child process (POSIX only)")

# What a kill before a step leaves: the saves from "sync" on have written their manifest, so they count.
FINISHED_FROM = atomic.STEPS.index("sync")


def version(n: int) -> HybridEngine:
    return HybridEngine([f"版本 {n} 的第 {i} 条" for i in range(3)] + [f"version {n}"])


def loaded_version(folder: Path) -> int:
    return int(HybridEngine.load(folder).documents[-1].text.split()[-1])


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.parent.iterdir() if p.name.startswith(f".{folder.name}."))


def save_killed_at(engine: HybridEngine, folder: Path, step: str | None) -> None:
    """``engine.save(folder)`` in a child process killed (SIGKILL) just before ``step`` (None: not killed)."""
    pid = os.fork()
    if pid == 0:  # the child: no cleanup, no atexit, no flushing after the kill
        try:
            if step is not None:
                atomic.step_hook = lambda name: os.kill(os.getpid(), signal.SIGKILL) if name == step else None
            engine.save(folder)
            os._exit(0)
        except BaseException:  # noqa: BLE001 - the parent sees the exit status
            os._exit(3)
    _, status = os.waitpid(pid, 0)  # reaped, so the dead child's temp folder counts as abandoned
    if step is None:
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    else:
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, f"not killed before {step}"


def expected_after(crashes: list[tuple[int, str]], last_complete: int) -> int:
    for n, step in crashes:
        if atomic.STEPS.index(step) >= FINISHED_FROM:
            last_complete = n
    return last_complete


@pytest.mark.parametrize("step", atomic.STEPS)
def test_a_kill_before_any_step_leaves_an_index_that_loads(tmp_path, step):
    folder = tmp_path / "idx"
    version(0).save(folder)
    save_killed_at(version(1), folder, step)
    assert loaded_version(folder) == expected_after([(1, step)], 0)
    assert leftovers(folder) == []  # the load removed what the killed save left


@pytest.mark.parametrize("first, second", list(itertools.product(atomic.STEPS, repeat=2)))
def test_a_second_kill_during_the_next_save_loses_nothing(tmp_path, first, second):
    """Issue reproducer: a kill between save()'s two renames, then a kill of the next save() after it removed
    the old copy and before its final rename, left no loadable index (manifest.json missing)."""
    folder = tmp_path / "idx"
    version(0).save(folder)
    save_killed_at(version(1), folder, first)
    save_killed_at(version(2), folder, second)
    assert loaded_version(folder) == expected_after([(1, first), (2, second)], 0)
    assert leftovers(folder) == []


def test_any_sequence_of_kills_loads_and_saves_again(tmp_path):
    rng = random.Random(20240611)
    for trial in range(12):
        folder = tmp_path / f"idx{trial}"
        version(0).save(folder)
        crashes: list[tuple[int, str]] = []
        for n in range(1, rng.randint(3, 5) + 1):
            step = rng.choice(atomic.STEPS)
            save_killed_at(version(n), folder, step)
            crashes.append((n, step))
            if rng.random() < 0.3:  # a load between the crashes recovers too
                assert loaded_version(folder) == expected_after(crashes, 0)
        assert loaded_version(folder) == expected_after(crashes, 0), crashes
        version(99).save(folder)  # and a clean save afterwards leaves exactly one folder
        assert loaded_version(folder) == 99 and leftovers(folder) == []


def test_the_next_save_cleans_what_killed_saves_left(tmp_path):
    folder = tmp_path / "idx"
    version(0).save(folder)
    for step in ("write", "manifest", "commit"):
        save_killed_at(version(1), folder, step)
    assert leftovers(folder)  # temp folders and the old copy are on disk
    version(2).save(folder)
    assert leftovers(folder) == [] and loaded_version(folder) == 2


def test_a_folder_that_is_not_an_index_is_never_replaced(tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "mine.txt").write_text("do not delete", encoding="utf-8")
    with pytest.raises(FileExistsError, match="not a saved index"):
        version(0).save(folder)
    with pytest.raises(IndexCorruptError, match="no saved index"):
        HybridEngine.load(folder)
    assert (folder / "mine.txt").read_text(encoding="utf-8") == "do not delete"


def test_a_save_running_in_another_process_is_left_alone(tmp_path):
    folder = tmp_path / "idx"
    version(0).save(folder)
    other = tmp_path / f".idx.tmp-{os.getppid()}-1-abcd"  # a live process (our parent) is writing it
    other.mkdir()
    (other / "documents.jsonl").write_text("", encoding="utf-8")
    assert loaded_version(folder) == 0 and other.exists()


def test_the_state_of_the_report_loads_the_complete_temp_folder(tmp_path):
    """The report's state built by hand: no index folder, no old copy, a complete temp folder of a dead save."""
    folder = tmp_path / "idx"
    version(1).save(tmp_path / "v1")
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)  # a process id that no longer runs
    (tmp_path / "v1").rename(tmp_path / f".idx.tmp-{pid}-1")
    assert loaded_version(folder) == 1 and leftovers(folder) == []
