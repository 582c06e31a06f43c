"""``ecad report --serve``'s server: the page rebuilt per request."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request

import pytest

from ecad.report.serve import report_server


def test_each_request_rebuilds_the_page_and_other_paths_are_404():
    builds = []

    def build() -> str:
        builds.append(1)
        return f"<p>build {len(builds)}</p>"

    server = report_server(build, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/"
    try:
        for n in (1, 2):
            with urllib.request.urlopen(url, timeout=300) as reply:
                assert reply.read().decode() == f"<p>build {n}</p>"
                assert reply.headers["Cache-Control"] == "no-store"
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(url + "other", timeout=300)
        assert err.value.code == 404
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
