"""Fixtures that run the real example app as a subprocess (wsfleet_support.echo_app)."""

from wsfleet_support.echo_app import server, short_tmp_dir, start_server, transport

__all__ = ["server", "short_tmp_dir", "start_server", "transport"]
