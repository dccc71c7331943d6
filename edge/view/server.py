"""The live view's web server: one page and one Server-Sent Events stream, stdlib only.

``GET /`` is the page (``page.html``, package data: no external assets, works offline);
``GET /state`` the current snapshot as JSON; ``GET /events`` an SSE stream that starts with a
``snapshot`` event and then pushes what the runtime publishes (``hop``, ``state``,
``quality``, ``command``). The server runs in its own daemon threads (one per client); the loop
only drops small dicts into each client's bounded queue (:meth:`EventHub.publish`), never
waiting on a socket: a client that does not keep up loses events, not the loop's time.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources

__all__ = ["EventHub", "ViewServer"]

log = logging.getLogger(__name__)

#: events a slow client may have waiting before newer ones are dropped
QUEUE_SIZE = 256
#: SSE comment sent after this long without events (keeps proxies and the browser patient)
KEEPALIVE_S = 10.0


class EventHub:
    """The connected clients' queues; :meth:`publish` is what the loop calls."""

    def __init__(self) -> None:
        self.clients: list[queue.Queue] = []
        self.dropped = 0
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self.clients)

    def publish(self, event: str, data: dict[str, object]) -> None:
        """Hand ``data`` to every client, without waiting (a full queue drops it)."""
        for q in self.clients:
            try:
                q.put_nowait((event, data))
            except queue.Full:
                self.dropped += 1

    def subscribe(self) -> queue.Queue:
        q: queue.Queue = queue.Queue(QUEUE_SIZE)
        with self._lock:
            self.clients = [*self.clients, q]  # the loop iterates a list nobody mutates
        return q

    def unsubscribe(self, q: queue.Queue) -> None:
        with self._lock:
            self.clients = [c for c in self.clients if c is not q]


def _page() -> bytes:
    return resources.files("edge.view").joinpath("page.html").read_bytes()


class ViewServer:
    """An HTTP server on ``address`` serving the page, ``/state`` and ``/events``.

    Parameters
    ----------
    address : (str, int)
        Host and port to listen on (port 0: a free one).
    snapshot : callable
        Returns the current state as a JSON-able dict (called on a server thread).
    hub : EventHub
        Where the runtime's events come from.

    Raises
    ------
    OSError
        The address cannot be bound (in use, not local).
    """

    def __init__(self, address: tuple[str, int], snapshot: Callable[[], dict[str, object]],
                 hub: EventHub) -> None:
        page = _page()
        self.hub = hub
        self._stopping = threading.Event()
        stopping = self._stopping

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt: str, *args: object) -> None:
                log.debug("view %s: " + fmt, self.client_address[0], *args)

            def _send(self, body: bytes, ctype: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                path = self.path.split("?", 1)[0]
                if path in ("/", "/index.html"):
                    self._send(page, "text/html; charset=utf-8")
                elif path == "/state":
                    self._send(json.dumps(snapshot()).encode(), "application/json")
                elif path == "/events":
                    self._events()
                else:
                    self.send_error(404, "the live view has /, /state and /events")

            def _events(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-store")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                q = hub.subscribe()
                try:
                    self._write("snapshot", snapshot())
                    event = ""
                    while event != "bye":  # the run stopped: the last event, then close
                        try:
                            event, data = q.get(timeout=KEEPALIVE_S)
                        except queue.Empty:
                            if stopping.is_set():
                                break
                            self.wfile.write(b": keepalive\n\n")
                            self.wfile.flush()
                            continue
                        self._write(event, data)
                except OSError:  # the browser went away
                    pass
                finally:
                    hub.unsubscribe(q)

            def _write(self, event: str, data: dict[str, object]) -> None:
                self.wfile.write(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())
                self.wfile.flush()

        self.httpd = ThreadingHTTPServer(address, Handler)
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        host = str(host)
        return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self.httpd.serve_forever, name="mi-edge-view",
                                            kwargs={"poll_interval": 0.2}, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop serving: each client gets what is queued, then ``bye``, and its stream ends."""
        self._stopping.set()
        for q in self.hub.clients:
            try:
                q.put(("bye", {}), timeout=0.1)
            except queue.Full:
                pass
        deadline = time.monotonic() + 0.5  # let the clients see the last events (STOPPED)
        while any(not q.empty() for q in self.hub.clients) and time.monotonic() < deadline:
            time.sleep(0.02)
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread = None
        self.httpd.server_close()
