"""An SSH server on 127.0.0.1 built on paramiko's server side, for the selftests that need a real handshake without a
lab: it accepts connections in a thread, gives each its own transport with `host_key`, and serves it with the
subclass's `interface()`. `stop()` frees the port and cuts every connection."""

from __future__ import annotations

import contextlib
import socket
import threading

import paramiko


class LocalSSHServer:
    transport_class: type[paramiko.Transport] = paramiko.Transport

    def __init__(self, host_key: paramiko.PKey, port: int = 0) -> None:
        self.host_key = host_key
        self.connections = 0
        self.transports: list[paramiko.Transport] = []
        self._stopped = threading.Event()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", port))
        self._listener.listen(8)
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def interface(self) -> paramiko.ServerInterface:
        raise NotImplementedError

    def _serve(self) -> None:
        with self._listener:
            while not self._stopped.is_set():
                try:
                    conn, _ = self._listener.accept()
                except TimeoutError:
                    continue
                self.connections += 1
                conn.settimeout(None)
                transport = self.transport_class(conn)
                transport.add_server_key(self.host_key)
                self.transports.append(transport)
                with contextlib.suppress(paramiko.SSHException, EOFError, OSError):
                    transport.start_server(event=threading.Event(), server=self.interface())

    def drop(self) -> None:
        """Cut every connection, as a restarting host or a broken network would."""
        for transport in self.transports:
            transport.close()

    def stop(self) -> None:
        """Stop listening (the port is free on return) and cut every connection."""
        self._stopped.set()
        self._thread.join(timeout=5)
        self.drop()
