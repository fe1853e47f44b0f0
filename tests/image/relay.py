"""stdin/stdout <-> TCP host:port, for qemu user-net `guestfwd=...-cmd:`: qemu runs
one relay per guest connection (a `tcp:` chardev would connect only once)."""
import os
import select
import socket
import sys

s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
s.settimeout(None)
fds = [0, s.fileno()]
while fds:
    for fd in select.select(fds, [], [], 600)[0] or [None]:
        if fd is None:
            sys.exit(0)  # idle for ten minutes: the test is long over
        data = os.read(fd, 65536) if fd == 0 else s.recv(65536)
        if not data:
            if fd == 0:
                s.shutdown(socket.SHUT_WR)
            else:
                os.close(1)
            fds.remove(fd)
        elif fd == 0:
            s.sendall(data)
        else:
            os.write(1, data)
