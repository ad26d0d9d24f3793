"""CPU thread settings: one thread per physical core unless the user chose, and a word when busy."""

from __future__ import annotations

import os

import pytest
import torch

from ganzoo.engine import threads


@pytest.fixture
def cpu(monkeypatch):
    """Two physical cores, an idle machine and no OMP_NUM_THREADS; torch's threads restored after."""
    before = torch.get_num_threads()
    monkeypatch.setattr(threads, "physical_cores", lambda: 2)
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (0.1, 0.1, 0.1))
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    yield monkeypatch
    torch.set_num_threads(before)


def test_physical_cores_are_counted_among_the_cpus_this_process_may_use():
    assert 1 <= threads.physical_cores() <= len(threads.available_cpus()) <= (os.cpu_count() or 1)


def test_more_threads_than_cores_are_cut_to_this_process_share(cpu):
    torch.set_num_threads(4)
    assert threads.configure_cpu_threads() == []
    assert torch.get_num_threads() == 2
    torch.set_num_threads(4)
    threads.configure_cpu_threads(local_processes=2)  # two torchrun processes on this machine
    assert torch.get_num_threads() == 1


def test_a_users_choice_is_kept(cpu):
    torch.set_num_threads(1)  # lowered by the program (the tests, ganzoo bench)
    threads.configure_cpu_threads()
    assert torch.get_num_threads() == 1
    cpu.setenv("OMP_NUM_THREADS", "4")
    torch.set_num_threads(4)
    notes = threads.configure_cpu_threads()
    assert torch.get_num_threads() == 4
    assert notes and "set OMP_NUM_THREADS to at most 2" in notes[0]


def test_an_oversubscribed_machine_is_reported_when_threads_would_wait(cpu):
    cpu.setattr(threads.os, "getloadavg", lambda: (6.0, 6.0, 6.0))
    torch.set_num_threads(2)
    notes = threads.configure_cpu_threads()
    assert len(notes) == 1 and "oversubscribed: load average 6.0" in notes[0]
    torch.set_num_threads(1)  # one thread never waits at a barrier
    assert threads.configure_cpu_threads() == []
