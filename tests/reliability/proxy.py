"""A loopback TCP proxy that cuts the connection after a set number of bytes."""

from __future__ import annotations

import contextlib
import socket
import threading


class CuttingProxy:
    """Forwards 127.0.0.1:<port> to a Redis server; cuts each connection after ``budget`` bytes
    sent towards the server (``None``: never)."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.budget: int | None = None
        self.cuts = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._closed = False
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            budget = self.budget
            threading.Thread(
                target=self._pump, args=(client, upstream, budget), daemon=True
            ).start()
            threading.Thread(target=self._pump, args=(upstream, client, None), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, budget: int | None) -> None:
        sent = 0
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if budget is not None and sent + len(data) >= budget:
                    dst.sendall(data[: budget - sent])
                    self.cuts += 1
                    break
                dst.sendall(data)
                sent += len(data)
        except OSError:
            pass
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self._closed = True
        self._listener.close()


def _value_end(buffer: bytes | bytearray, start: int) -> int | None:
    """Where the RESP value (a command or a reply, RESP2 or RESP3) at ``start`` ends;
    None while it is incomplete."""
    line_end = buffer.find(b"\r\n", start)
    if line_end < 0:
        return None
    kind = buffer[start : start + 1]
    after = line_end + 2
    if kind in b"$=!":  # blob string, verbatim string, blob error
        length = int(buffer[start + 1 : line_end])
        if length < 0:
            return after
        end = after + length + 2
        return end if len(buffer) >= end else None
    if kind in b"*~>%|":  # array, set, push, map, attribute
        count = int(buffer[start + 1 : line_end])
        if kind in b"%|":
            count *= 2
        position: int | None = after
        for _ in range(max(count, 0)):
            assert position is not None
            position = _value_end(buffer, position)
            if position is None:
                return None
        if kind == b"|":  # an attribute precedes the value it describes
            return _value_end(buffer, position) if position is not None else None
        return position
    return after  # a one-line value: + - : _ , # (


def _split_values(buffer: bytearray) -> list[bytes]:
    """Remove and return the complete RESP values at the start of ``buffer``."""
    values: list[bytes] = []
    start = 0
    while start < len(buffer):
        end = _value_end(buffer, start)
        if end is None:
            break
        values.append(bytes(buffer[start:end]))
        start = end
    del buffer[:start]
    return values


class ReplyDropper:
    """Forwards 127.0.0.1:<port> to a server; once armed, lets the Nth command that names
    EVALSHA reach the server, then drops its reply and closes the connection (both sides).

    The server ran the command; the client never hears of it: a lost reply. Commands and
    replies are counted per connection, so the cut falls exactly on that command's reply
    (the replies before it are delivered).
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.cuts = 0
        #: How many EVALSHA commands went through (armed or not).
        self.evalsha = 0
        #: While True, every new connection is closed at once (a node that cannot be reached).
        self.refusing = False
        self._nth = 0  # 0: disarmed
        self._seen = 0
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def arm(self, nth: int = 1) -> None:
        """Drop the reply of the ``nth`` EVALSHA from now on (over every connection)."""
        with self._lock:
            self._nth, self._seen = nth, 0

    def disarm(self) -> None:
        with self._lock:
            self._nth = 0

    def _accept(self) -> None:
        while True:
            try:
                downstream, _ = self._listener.accept()
            except OSError:
                return
            if self.refusing:
                downstream.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            self._sockets += [downstream, upstream]
            # The index (in this connection's commands) of the command whose reply to drop.
            doomed: list[int] = []
            threading.Thread(
                target=self._to_server, args=(downstream, upstream, doomed), daemon=True
            ).start()
            threading.Thread(
                target=self._to_client, args=(upstream, downstream, doomed), daemon=True
            ).start()

    def _to_server(self, src: socket.socket, dst: socket.socket, doomed: list[int]) -> None:
        buffer = bytearray()
        count = 0
        try:
            while data := src.recv(65536):
                buffer += data
                for command in _split_values(buffer):
                    # Commands are arrays of bulk strings; the name is the first.
                    name = command.split(b"\r\n", 3)[2].upper()
                    if name == b"EVALSHA":
                        with self._lock:
                            self.evalsha += 1
                            if self._nth and not doomed:
                                self._seen += 1
                                if self._seen == self._nth:
                                    self._nth = 0
                                    doomed.append(count)  # before it is sent: no race
                    count += 1
                dst.sendall(data)
        except OSError:
            pass

    def _to_client(self, src: socket.socket, dst: socket.socket, doomed: list[int]) -> None:
        buffer = bytearray()
        count = 0
        try:
            while data := src.recv(65536):
                buffer += data
                passed = bytearray()
                for reply in _split_values(buffer):
                    if reply.startswith(b">"):  # a RESP3 push message answers no command
                        passed += reply
                        continue
                    if doomed and count == doomed[0]:
                        dst.sendall(passed)
                        self.cuts += 1
                        for sock in (dst, src):  # shutdown wakes the other thread's recv
                            with contextlib.suppress(OSError):
                                sock.shutdown(socket.SHUT_RDWR)
                            sock.close()
                        return
                    passed += reply
                    count += 1
                dst.sendall(passed)
        except OSError:
            pass

    def cut_all(self) -> None:
        """Close every connection made so far (both sides), as a dying node would."""
        sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self._listener.close()
        self.cut_all()
