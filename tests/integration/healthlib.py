"""Checks of the health port shared by tests/integration and tests/lwip."""
import socket
import time


def slowloris(host, port, healthz):
    """A client trickling header bytes (one every 100 ms, at most 3 s) to
    host:port while healthz() (the status of another client's GET /healthz)
    is asked once.  Returns (served, got, elapsed): [(status, seconds)] of
    that request, what the slow client received, and how long it lasted."""
    slow = socket.create_connection((host, port), timeout=5)
    slow.sendall(b"GET /healthz HTTP/1.1\r\n")
    t0 = time.monotonic()
    got, served = b"", []
    for i in range(30):
        try:
            slow.sendall(b"X")
        except OSError:
            break
        if i == 3:
            t = time.monotonic()
            served.append((healthz(), time.monotonic() - t))
        time.sleep(0.1)
        slow.setblocking(False)
        try:
            got += slow.recv(4096)
        except BlockingIOError:
            pass
        except OSError:
            break
        finally:
            slow.setblocking(True)
        if got:
            break
    elapsed = time.monotonic() - t0
    slow.close()
    return served, got, elapsed
