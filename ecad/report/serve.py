"""``ecad report --serve``: the report over HTTP on localhost, rebuilt from the store per request,
so reloading the page shows a running search's latest generation."""

from __future__ import annotations

from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["serve_report"]


def serve_report(build: Callable[[], str], port: int, host: str = "127.0.0.1",
                 log: Callable[[str], None] = print) -> None:
    """Serve ``build()`` at ``/`` until interrupted (Ctrl-C)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path not in ("/", "/index.html"):
                self.send_error(404)
                return
            body = build().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    log(f"serving the report on http://{host}:{server.server_port}/ (reload for the latest; "
        "Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
