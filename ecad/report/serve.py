"""``ecad report --serve``: the report over HTTP on localhost, rebuilt from the store per request,
so reloading the page shows a running search's latest generation."""

from __future__ import annotations

from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["report_server", "serve_report"]


def report_server(build: Callable[[], str], port: int, host: str = "127.0.0.1"
                  ) -> ThreadingHTTPServer:
    """An HTTP server answering ``/`` with ``build()`` (port 0: any free port)."""

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

    return ThreadingHTTPServer((host, port), Handler)


def serve_report(build: Callable[[], str], port: int, host: str = "127.0.0.1",
                 log: Callable[[str], None] = print) -> None:
    """Serve ``build()`` at ``/`` until interrupted (Ctrl-C)."""
    server = report_server(build, port, host)
    log(f"serving the report on http://{host}:{server.server_port}/ (reload for the latest; "
        "Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
