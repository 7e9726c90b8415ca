"""sd_notify datagrams, read from a socket the test binds."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from seid.daemon.notify import Notifier


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(5)
    yield sock, path
    sock.close()


def test_messages_arrive_in_order(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    notifier = Notifier(path)
    assert notifier.ready("watching 1 repo")
    assert notifier.watchdog()
    assert notifier.reloading()
    assert notifier.stopping()
    got = [sock.recv(4096).decode() for _ in range(4)]
    assert got[0] == "READY=1\nSTATUS=watching 1 repo"
    assert got[1] == "WATCHDOG=1"
    assert got[2].startswith("RELOADING=1\nMONOTONIC_USEC=")
    assert int(got[2].split("=")[-1]) > 0
    assert got[3] == "STOPPING=1"


def test_abstract_namespace_socket() -> None:
    name = f"seid-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(5)
    try:
        assert Notifier("@" + name).watchdog()
        assert sock.recv(64) == b"WATCHDOG=1"
    finally:
        sock.close()


def test_without_socket_every_call_is_a_noop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    notifier = Notifier()
    assert not notifier.enabled
    assert notifier.ready() is False


def test_gone_listener_is_not_an_error(tmp_path: Path) -> None:
    assert Notifier(str(tmp_path / "absent.sock")).stopping() is False


def test_watchdog_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert Notifier("x").watchdog_interval() == 15.0
    monkeypatch.setenv("WATCHDOG_PID", "1")
    assert Notifier("x").watchdog_interval() is None
