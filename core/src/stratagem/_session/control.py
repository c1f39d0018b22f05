"""The control channel of a running session (DESIGN 12): a Unix domain socket in
the run folder, mode 0600, never a TCP port.

One request per connection: a JSON object on one line (``{"command": "reload",
"strategy": "ma_cross"}``), answered by a JSON object on one line (``{"ok": true,
"message": "..."}``). Only the user who runs the session can connect.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger("stratagem.control")

#: the socket's name in the run folder
SOCKET_NAME = "control.sock"
#: longest path a Unix socket address holds on Linux (108 bytes with the NUL)
_MAX_ADDRESS = 100
_MAX_REQUEST = 64 * 1024

Handler = Callable[[dict[str, Any]], dict[str, Any]]


class ControlError(RuntimeError):
    """No session answers on a run folder's control socket."""


@contextlib.contextmanager
def _address(path: Path) -> Iterator[str]:
    """A path to bind or connect ``path`` by: itself, or, when it is too long for a
    socket address, the same file through ``/proc/self/fd`` of its folder."""
    if len(os.fsencode(path)) <= _MAX_ADDRESS:
        yield str(path)
        return
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{folder}/{path.name}"
    finally:
        os.close(folder)


class ControlServer:
    """Serves a session's control socket from its own thread.

    :param run_dir: the run folder; the socket is ``<run_dir>/control.sock``.
    :param handle: answers one request (called in the server's thread).
    """

    def __init__(self, run_dir: Path, handle: Handler) -> None:
        self.path = Path(run_dir) / SOCKET_NAME
        self._handle = handle
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()

    def start(self) -> None:
        """Create the socket (mode 0600) and start answering."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.unlink(missing_ok=True)
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # created owner-only: no moment at which another user could connect
        previous = os.umask(0o177)
        try:
            with _address(self.path) as address:
                server.bind(address)
        finally:
            os.umask(previous)
        os.chmod(self.path, stat.S_IRUSR | stat.S_IWUSR)
        server.listen(4)
        self._socket = server
        self._thread = threading.Thread(
            target=self._serve, name="stratagem-control", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        """Stop answering and remove the socket."""
        self._closed.set()
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.shutdown(socket.SHUT_RDWR)
            self._socket.close()
        if self._thread is not None:
            self._thread.join(5.0)
        self.path.unlink(missing_ok=True)

    def _serve(self) -> None:
        assert self._socket is not None
        while not self._closed.is_set():
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return  # closed
            with connection:
                self._answer(connection)

    def _answer(self, connection: socket.socket) -> None:
        try:
            request = _read_line(connection)
            body = json.loads(request)
            if not isinstance(body, dict):
                raise ValueError("a request is a JSON object")
            reply = self._handle(body)
        except (OSError, ValueError) as exc:
            reply = {"ok": False, "message": f"bad request: {exc}"}
        except Exception as exc:  # noqa: BLE001 - answered, never fatal
            log.exception("control request failed")
            reply = {"ok": False, "message": f"{type(exc).__name__}: {exc}"}
        with contextlib.suppress(OSError):
            connection.sendall(json.dumps(reply).encode() + b"\n")


def _read_line(connection: socket.socket) -> str:
    data = b""
    while not data.endswith(b"\n"):
        chunk = connection.recv(4096)
        if not chunk:
            break
        data += chunk
        if len(data) > _MAX_REQUEST:
            raise ValueError("request too long")
    return data.decode()


def send(run_dir: Path, request: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    """Send one request to the session running in ``run_dir``; its answer.

    :raises ControlError: when no session runs there (no socket, or nobody
        listening on it).
    """
    path = Path(run_dir) / SOCKET_NAME
    if not path.exists():
        raise ControlError(
            f"no session is running in {run_dir} (no {SOCKET_NAME} in it)"
        )
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(timeout_s)
        try:
            with _address(path) as address:
                client.connect(address)
        except (ConnectionRefusedError, FileNotFoundError):
            raise ControlError(
                f"no session is running in {run_dir} ({SOCKET_NAME} is left over "
                "from a run that ended)"
            ) from None
        client.sendall(json.dumps(request).encode() + b"\n")
        answer = _read_line(client)
    if not answer:
        raise ControlError(f"the session in {run_dir} closed the connection")
    body: dict[str, Any] = json.loads(answer)
    return body
