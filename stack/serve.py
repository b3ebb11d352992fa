"""The API server of `make run`: uvicorn on API_PORT and, with SEED_COMPAT_PORTS=true, on the seed's six service
ports as well (5001-5006, contract section 1.1), so the seed's Angular app and scripts work unchanged.

One process, one app, several listening sockets: every port serves the whole API.
"""

import socket

import uvicorn

from stack.settings import Settings

SEED_PORTS = tuple(range(5001, 5007))


def ports(settings: Settings) -> list[int]:
    """The ports the API listens on: API_PORT, then the seed's unless it is one of them."""
    extra = [port for port in SEED_PORTS if port != settings.api_port] if settings.seed_compat_ports else []
    return [settings.api_port, *extra]


def listen(host: str, port_numbers: list[int]) -> list[socket.socket]:
    """A bound socket per port (closing those already bound if one port is taken)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    bound: list[socket.socket] = []
    try:
        for port in port_numbers:
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            bound.append(sock)
            sock.bind((host, port))
    except OSError:
        for sock in bound:
            sock.close()
        raise
    return bound


def main() -> None:
    settings = Settings()
    # X-Forwarded-For from TRUSTED_PROXIES only: uvicorn's own default would trust any local process.
    proxies = [str(network) for network in settings.trusted_proxies]
    config = uvicorn.Config(
        "api.app:create_app",
        factory=True,
        host=settings.api_host,
        port=settings.api_port,
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies,
    )
    uvicorn.Server(config).run(sockets=listen(settings.api_host, ports(settings)))


if __name__ == "__main__":
    main()
