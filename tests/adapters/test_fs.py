"""Files written whole: write_atomic under concurrent writers."""

from __future__ import annotations

import multiprocessing
import threading

from axion_build.adapters.fs import write_atomic


def write_many(path, text: str, times: int = 200) -> None:
    for _ in range(times):
        write_atomic(path, text)


def test_concurrent_writers_of_one_file_each_swap_in_a_whole_file(tmp_path):
    path = tmp_path / "build" / "shared.json"
    texts = [f"writer {i}\n" * 500 for i in range(4)]
    threads = [threading.Thread(target=write_many, args=(path, t)) for t in texts[:2]]
    processes = [multiprocessing.Process(target=write_many, args=(path, t)) for t in texts[2:]]
    for worker in (*threads, *processes):
        worker.start()
    for thread in threads:
        thread.join()
    for process in processes:
        process.join()
        assert process.exitcode == 0
    assert path.read_text() in texts
    assert [p.name for p in path.parent.iterdir()] == ["shared.json"]


def test_a_failed_write_leaves_the_old_file_and_no_partial(tmp_path):
    path = write_atomic(tmp_path / "f.txt", "old")
    try:
        write_atomic(path, object())  # type: ignore[arg-type]
    except TypeError:
        pass
    else:
        raise AssertionError("writing an object did not fail")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]
