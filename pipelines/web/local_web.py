"""What the commands that serve a web page share: a free port checked up front, the address to print, the browser."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import urllib.request
import webbrowser
from collections.abc import Iterator
from typing import Any

from kerashpo.pipelines.waiting import wait_until
from kerashpo.spaces import UserError


def check_port_free(host: str, port: int) -> None:
    """Fail in one line now rather than let a server die on a taken port after seconds of start-up."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise UserError(f"--host {host}: not an address of this machine") from None
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do: TIME_WAIT is no obstacle
        try:
            probe.bind(address)
        except OSError as exc:
            raise UserError(f"cannot listen on {host}:{port} ({exc.strerror}); pass another --port") from None


def base_url(host: str, port: int) -> str:
    """The address a browser on this machine uses: a server bound to every interface answers on loopback."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


def wait_until_serving(url: str, server: subprocess.Popen, timeout: float, every: float) -> None:
    """Return once ``url`` answers 200; ``ChildProcessError`` if ``server`` stops first, ``TimeoutError`` after
    ``timeout`` seconds."""

    def serving() -> bool:
        if _answers(url):
            return True
        if server.poll() is not None:
            raise ChildProcessError(f"{url}: the server stopped")
        return False

    wait_until(serving, timeout, every=every, what=url)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def open_in_browser(url: str) -> None:
    if not webbrowser.open(url):
        print("no web browser could be started here; open the address above", flush=True)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """``kill`` stops a server as Ctrl-C does, so what it started stops with it and it exits cleanly."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
