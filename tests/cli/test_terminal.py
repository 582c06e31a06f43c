"""Terminal control sequences only on a terminal that takes them: NO_COLOR and TERM=dumb turn
them off even on a TTY (the progress of search, the work bars, status --watch)."""

from __future__ import annotations

import io

import click
import pytest

from ecad.cli.progress import work_bar
from ecad.cli.status_view import StatusSnapshot, watch
from ecad.cli.terminal import controls_allowed
from tests.cli.terminal import CONTROL


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


PLAIN = [{"NO_COLOR": "1"}, {"TERM": "dumb"}]


@pytest.fixture
def plain_env(request, monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    for name, value in request.param.items():
        monkeypatch.setenv(name, value)


def test_a_terminal_takes_controls_and_a_pipe_does_not(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert controls_allowed(_Tty()) and not controls_allowed(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "")  # empty: not set, by the convention
    assert controls_allowed(_Tty())


@pytest.mark.parametrize("plain_env", PLAIN, indirect=True)
def test_no_controls_on_a_tty_when_asked_for_plain_output(plain_env):
    assert not controls_allowed(_Tty())


def _bar_output(monkeypatch) -> str:
    screen = _Tty()
    monkeypatch.setattr(click, "get_text_stream", lambda name: screen)
    with work_bar(3, "generating") as bar:
        for _ in range(3):
            bar.update(1)
    return screen.getvalue()


def test_the_work_bar_redraws_on_a_terminal(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert CONTROL.search(_bar_output(monkeypatch).replace("\n", ""))


@pytest.mark.parametrize("plain_env", PLAIN, indirect=True)
def test_the_work_bar_is_plain_under_no_color_or_a_dumb_terminal(plain_env, monkeypatch):
    out = _bar_output(monkeypatch)
    assert "generating" in out and not CONTROL.search(out.replace("\n", ""))


@pytest.mark.parametrize("plain_env", PLAIN, indirect=True)
def test_status_watch_prints_blocks_not_screen_clears(plain_env):
    screen = _Tty()
    snapshot = StatusSnapshot(searches=(), workers=None, broker_error=None, taken=0.0)
    watch(lambda: snapshot, screen, interval_s=0, stop=lambda snap: True)
    out = screen.getvalue()
    assert out.startswith("--- ") and not CONTROL.search(out.replace("\n", ""))
