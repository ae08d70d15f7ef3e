# SPDX-License-Identifier: MIT
"""A small HTTP client for the tests of warden's HTTP endpoint (http =, --http).

Raw sockets rather than http.client, so that a test sees exactly what warden
sent (every header, the body byte for byte, where the connection ended) and
can send what no well-behaved client would. Loopback only.
"""

import os
import socket
import time

from conftest import wait_for


def free_port():
    """A TCP port of 127.0.0.1 that nobody listens on now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Reply:
    def __init__(self, raw):
        self.raw = raw
        head, sep, self.body = raw.partition(b"\r\n\r\n")
        assert sep, f"no end of the head in {raw[:500]!r}"
        lines = head.decode("latin-1").split("\r\n")
        version, status, reason = lines[0].split(" ", 2)
        assert version == "HTTP/1.1", lines[0]
        self.status = int(status)
        self.reason = reason
        self.headers = {}
        self.names = []
        for line in lines[1:]:
            name, _, value = line.partition(": ")
            self.names.append(name.lower())
            self.headers[name.lower()] = value
        self.text = self.body.decode("utf-8", errors="replace")

    def check_framing(self, head_only=False):
        """What every answer has: Content-Type, Connection: close, the exact Content-Length."""
        assert "content-type" in self.headers, self.raw[:500]
        assert self.headers.get("connection") == "close", self.raw[:500]
        assert len(set(self.names)) == len(self.names), f"a header twice: {self.names}"
        length = int(self.headers["content-length"])
        assert len(self.body) == (0 if head_only else length), \
            f"Content-Length {length}, body {len(self.body)} bytes: {self.raw[:500]!r}"
        return self


def exchange(port, data, timeout=10, shut=False, host="127.0.0.1"):
    """Sends DATA (bytes) on a new connection to HOST and reads until warden closes it; the
    raw bytes received. SHUT: close our sending side after DATA."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(data)
        if shut:
            s.shutdown(socket.SHUT_WR)
        return read_all(s, timeout)


def read_all(s, timeout=10):
    out = b""
    deadline = time.monotonic() + timeout
    while True:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            break
        except socket.timeout:
            raise AssertionError(f"the connection was not closed within {timeout}s; "
                                 f"got {out[:300]!r}")
        if not chunk:
            break
        out += chunk
    return out


def request(port, path, method="GET", headers=(), version="HTTP/1.1", timeout=10,
            host="127.0.0.1"):
    """One request; the Reply, its framing checked."""
    lines = [f"{method} {path} {version}", "Host: x"] + list(headers)
    raw = exchange(port, ("\r\n".join(lines) + "\r\n\r\n").encode(), timeout, host=host)
    assert raw, f"{method} {path}: the connection closed without an answer"
    return Reply(raw).check_framing(head_only=method == "HEAD")


def get(port, path, **kw):
    return request(port, path, **kw)


def wait_serving(port, run, timeout=20, host="127.0.0.1"):
    """Waits until warden answers on PORT (its socket is bound before any service starts)."""
    def pred():
        if not run.running():
            raise AssertionError(f"warden exited ({run.status()}): {run.err()[-2000:]!r}")
        try:
            return get(port, "/livez", timeout=5, host=host)
        except (ConnectionRefusedError, ConnectionResetError):
            return None
    return wait_for(pred, timeout, f"warden to answer on port {port}")


def connections_of(pid):
    """How many TCP connections (not listening sockets) process PID holds."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    n = 0
    for table in ("tcp", "tcp6"):
        with open(f"/proc/{pid}/net/{table}") as f:
            next(f)
            for line in f:
                fields = line.split()
                n += fields[3] != "0A" and fields[9] in inodes  # 0A: LISTEN
    return n
