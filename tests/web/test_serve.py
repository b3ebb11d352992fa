"""SEED_COMPAT_PORTS: the API's server listens on API_PORT and on the seed's six service ports."""

import socket

import pytest

from stack.serve import SEED_PORTS, listen, ports
from stack.settings import Settings
from tooling.processes import free_port


def _settings(api_port: int, seed_compat_ports: bool = False) -> Settings:
    return Settings(_env_file=None, api_port=api_port, seed_compat_ports=seed_compat_ports)


def test_only_api_port_by_default() -> None:
    assert ports(_settings(api_port=8000)) == [8000]


def test_seed_ports_too_when_asked() -> None:
    assert ports(_settings(api_port=8000, seed_compat_ports=True)) == [8000, 5001, 5002, 5003, 5004, 5005, 5006]
    assert ports(_settings(api_port=5002, seed_compat_ports=True)) == [5002, *(p for p in SEED_PORTS if p != 5002)]


def test_listen_binds_every_port_and_gives_all_back_when_one_is_taken() -> None:
    first, second = free_port(), free_port()
    sockets = listen("127.0.0.1", [first, second])
    try:
        assert sorted(sock.getsockname()[1] for sock in sockets) == sorted([first, second])
        for sock in sockets:
            sock.listen()  # as the server does
        third = free_port()
        with pytest.raises(OSError):
            listen("127.0.0.1", [third, first])  # `first` is taken (bound, not closed)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", third))  # released again
    finally:
        for sock in sockets:
            sock.close()
