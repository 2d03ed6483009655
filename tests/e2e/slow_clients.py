"""Slow and greedy HTTP clients, for tests/e2e/slow_clients.sh. Every attack opens a bounded
number of connections to 127.0.0.1 only, holds them for a bounded time, closes them itself and
prints one line of facts for the shell to check.

usage: slow_clients.py PORT ATTACK [ARGS...]
  idle N SECONDS          open N connections that send nothing; after SECONDS print how many the
                          server has closed
  slow_headers SECONDS    send a request head one byte every 0.25 s for at most SECONDS; print
                          whether the server closed it and after how long (whole seconds)
  declared_length BYTES   send a head declaring BYTES of body and no body; print the status line,
                          the Connection header and whether the server then closed
  near_limit N BYTES HOLD open N connections that each send BYTES of a larger declared body and
                          pause HOLD seconds; print how many got an answer
  refused N               open N connections; print how many were answered 503 at once
"""
import resource
import socket
import sys
import time

HOST = "127.0.0.1"
PATH = "/api/webhooks/clerk"


def raise_file_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def connect(port):
    s = socket.create_connection((HOST, port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def closed_by_server(s, wait):
    """True when the server closed the connection (EOF or reset) within `wait` seconds."""
    s.settimeout(wait)
    try:
        while True:
            data = s.recv(65536)
            if not data:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def head(length):
    return (
        f"POST {PATH} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
        f"svix-id: msg_attack\r\nsvix-timestamp: 1\r\nsvix-signature: v1,x\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def idle(port, n, seconds):
    conns = [connect(port) for _ in range(n)]
    print(f"opened {len(conns)}", flush=True)
    time.sleep(seconds)
    closed = sum(closed_by_server(s, 0.01) for s in conns)
    for s in conns:
        s.close()
    print(f"closed_by_server {closed}")


def slow_headers(port, seconds):
    s = connect(port)
    started = time.monotonic()
    request = head(2)
    closed = False
    for byte in request:
        if time.monotonic() - started > seconds:
            break
        try:
            s.send(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            closed = True
            break
        if closed_by_server(s, 0.25):
            closed = True
            break
    took = int(time.monotonic() - started)
    s.close()
    print(f"closed {str(closed).lower()} after_s {took}")


def declared_length(port, length):
    s = connect(port)
    s.sendall(head(length))
    s.settimeout(3)
    answer = b""
    try:
        while b"\r\n\r\n" not in answer:
            data = s.recv(4096)
            if not data:
                break
            answer += data
    except socket.timeout:
        pass
    lines = answer.decode(errors="replace").split("\r\n")
    connection = next((l.split(":", 1)[1].strip() for l in lines if l.lower().startswith("connection:")), "-")
    closed = closed_by_server(s, 3)
    s.close()
    print(f"{lines[0] or '-'} | connection: {connection} | closed {str(closed).lower()}")


def answers_starting(conns, prefix, wait):
    """How many of `conns` have an answer starting with `prefix` within `wait` seconds each."""
    answered = 0
    for s in conns:
        s.settimeout(wait)
        try:
            if s.recv(64).startswith(prefix):
                answered += 1
        except (socket.timeout, ConnectionResetError):
            pass
    return answered


def near_limit(port, n, sent, hold):
    conns = []
    chunk = b"x" * sent
    for _ in range(n):
        s = connect(port)
        s.sendall(head(sent + 1024) + chunk)
        conns.append(s)
    print(f"holding {len(conns)}", flush=True)
    time.sleep(hold)
    answered = answers_starting(conns, b"HTTP/1.1", 0.05)
    for s in conns:
        s.close()
    print(f"answered {answered}")


def refused(port, n):
    conns = [connect(port) for _ in range(n)]
    busy = answers_starting(conns, b"HTTP/1.1 503", 0.5)
    for s in conns:
        s.close()
    print(f"refused {busy}")


def main():
    raise_file_limit()
    port, attack, args = int(sys.argv[1]), sys.argv[2], [int(a) for a in sys.argv[3:]]
    {"idle": idle, "slow_headers": slow_headers, "declared_length": declared_length,
     "near_limit": near_limit, "refused": refused}[attack](port, *args)


if __name__ == "__main__":
    main()
