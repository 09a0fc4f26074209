"""A TCP proxy on the loopback for fault injection: refuse connections or cut them mid-stream."""

import contextlib
import socket
import threading


class Proxy:
    """Forwards 127.0.0.1:<port> to a target; can cut each connection after some bytes."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.cut_after: int | None = None  # bytes from the server before a connection is cut
        self.cuts_left = 0  # how many connections to cut; then forward normally
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.connections = 0
        self._open: list[socket.socket] = []
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._stop.is_set():
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            upstream = socket.create_connection(self.target)
            self._open += [client, upstream]
            limit = None
            if self.cuts_left > 0 and self.cut_after is not None:
                self.cuts_left -= 1
                limit = self.cut_after
            threading.Thread(target=self._pump, args=(client, upstream, None),
                             daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, limit),
                             daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, limit: int | None):
        sent = 0
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if limit is not None and sent + len(data) > limit:
                    sink.sendall(data[: max(0, limit - sent)])
                    break
                sink.sendall(data)
                sent += len(data)
        except OSError:
            pass
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self):
        """Stop listening (new connections are refused) and cut every open one."""
        self._stop.set()
        with contextlib.suppress(OSError):  # shutdown wakes the accepting thread on Linux
            self.server.shutdown(socket.SHUT_RDWR)
        self.server.close()
        for sock in self._open:
            with contextlib.suppress(OSError):
                sock.close()
