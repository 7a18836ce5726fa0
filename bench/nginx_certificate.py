"""What a renewal with no reload would cost NGINX: its certificate loaded at every TLS handshake
(`ssl_certificate` with a variable) against once per reload (what the nginx role writes).

    .venv/bin/python -m bench.nginx_certificate [--out docs/benchmarks] [--seconds 20]
                                                [--handshakers 32] [--rounds 2]
                                                [--reuse-fleet] [--keep-fleet]

bench/run.py's fleet with NGINX at the edge and the per-address limits off there (site.yml on the
edge alone, wsfleet_router_limit_handshake_rate=0). Then, ROUNDS times each way, in turn: the
edge's nginx.conf as the role writes it, or with the certificate and key read at every handshake
(support/wsfleet_support/remote/nginx_certificate.py rewrites it, NGINX restarted), and
HANDSHAKERS clients opening wss connections one after another for SECONDS (bench/routers.py's
handshake loop): handshakes per second and NGINX's CPU time per handshake. Last, in the
per-handshake form, a forced renewal without certbot's hooks: the same NGINX processes must serve
the new certificate. site.yml puts the role's configuration back. Writes OUT/nginx_certificate.json
and OUT/nginx_certificate.md. Timings are measurements, never assertions.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bench import report as results_report
from bench import routers, run
from bench.report import fmt, is_number, render_report, section
from wsfleet_support import benchmark, ssh
from wsfleet_support.checks.tls import peer_certificate, verifying_context
from wsfleet_support.fleet import fleet_name

REPORT_NAME = "nginx_certificate.md"
RESULTS_NAME = "nginx_certificate.json"
MODES = {
    "static": "loaded once per reload (the role's)",
    "per_handshake": "read at every handshake (a variable)",
}
SCRIPT = "nginx_certificate.py"
SECONDS = 20.0
HANDSHAKERS = 32
ROUNDS = 2
# The files the role points NGINX at (wsfleet_router_tls_certificate and _key's defaults).
CERTIFICATE = "/etc/ssl/wsfleet/fullchain.pem"
CERTIFICATE_KEY = "/etc/ssl/wsfleet/privkey.pem"
# A renewal as certbot.timer's service makes it, without the hooks (they would reload NGINX).
RENEW = (
    "REQUESTS_CA_BUNDLE=/etc/letsencrypt/wsfleet-acme-server-ca.pem "
    "certbot renew --force-renewal --no-random-sleep-on-renew --no-directory-hooks -q"
)


def edge_script(*args: str) -> str:
    return run.on_host(routers.edge()["address"], SCRIPT, *args)


def use(mode: str) -> None:
    if mode == "per_handshake":
        edge_script("per-handshake", CERTIFICATE, CERTIFICATE_KEY)
    else:
        edge_script("static")
    routers.wait_answering()


def served_serial() -> str:
    edge = routers.edge()
    context = verifying_context(run.BENCH_FLEET.acme_root())
    certificate = peer_certificate(edge["address"], fleet_name(edge["name"]), context=context)
    return format(certificate.serial_number, "X")


def nginx_pids() -> str:
    return ssh.run(
        run.BENCH_FLEET, routers.edge()["address"], "pgrep", "-d,", "-x", "nginx"
    ).strip()


def renewal_without_reload() -> dict:
    """In the per-handshake form: a renewal and fresh copies, and what NGINX serves after."""
    run.say("NGINX: a renewal with the certificate read at every handshake, no reload")
    before = {"pids": nginx_pids(), "serial": served_serial()}
    ssh.shell(run.BENCH_FLEET, routers.edge()["address"], RENEW)
    edge_script("refresh", CERTIFICATE, CERTIFICATE_KEY)
    after = {"pids": nginx_pids(), "serial": served_serial()}
    return {"before": before, "after": after}


def measure(results: dict, args: argparse.Namespace, save: Callable[[], None]) -> None:
    folder = Path(tempfile.mkdtemp(prefix="wsfleet-bench-nginx-certificate-"))
    try:
        if run.fresh_fleet_unless_reused(args):
            run.playbook("site.yml")
        run.say("NGINX at the edge, the per-address limits off there")
        routers.site("nginx", folder, "--limit", routers.edge()["name"], "-e", routers.LIMITS_OFF)
        routers.wait_answering()
        for round_number in range(1, args.rounds + 1):
            for mode in MODES:
                use(mode)
                measured = routers.handshakes("nginx", mode, args.seconds, args.handshakers)
                results["rounds"].append({"round": round_number, "mode": mode, **measured})
                save()
        results["renewal"] = renewal_without_reload()
        save()
        use("static")
        run.say("the role's configuration back (site.yml on the edge)")
        routers.site("nginx", folder, "--limit", routers.edge()["name"])
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# --- figures and the report ---------------------------------------------------------------


def mode_figures(rounds: list[Mapping[str, Any]], mode: str) -> dict:
    """Means over the rounds of one mode; None when none was measured."""
    chosen = [measured for measured in rounds if measured.get("mode") == mode]

    def mean(key: str) -> float | None:
        values = [measured.get(key) for measured in chosen if is_number(measured.get(key))]
        return statistics.fmean(values) if values else None

    return {
        "rounds": len(chosen),
        "handshakes_per_second": mean("accepted_per_second"),
        "cpu_ms_per_handshake": mean("router_cpu_ms_per_attempt"),
        "failures": sum(sum(measured.get("other_failures", {}).values()) for measured in chosen),
    }


def results_figures(results: Mapping[str, Any]) -> dict:
    rounds = results.get("rounds", [])
    figures = {mode: mode_figures(rounds, mode) for mode in MODES}
    static, variable = (figures[mode]["cpu_ms_per_handshake"] for mode in MODES)
    figures["cpu_ratio"] = variable / static if is_number(static) and is_number(variable) else None
    renewal = section(results, "renewal")
    before, after = section(renewal, "before"), section(renewal, "after")
    figures["renewal_same_processes"] = before.get("pids") == after.get("pids") if renewal else None
    figures["renewal_new_certificate"] = (
        before.get("serial") != after.get("serial") if renewal else None
    )
    return figures


def rows(figures: Mapping[str, Any]) -> list[list[str]]:
    return [
        [
            label,
            fmt(figures[mode]["handshakes_per_second"], 0),
            fmt(figures[mode]["cpu_ms_per_handshake"], 2, "ms"),
            fmt(figures[mode]["failures"]),
        ]
        for mode, label in MODES.items()
    ]


def render(results: Mapping[str, Any]) -> str:
    return render_report(__name__, results, report=results_report, figures=results_figures(results))


def write_outputs(results: dict, out: Path) -> None:
    benchmark.save_outputs(out, results, (RESULTS_NAME, REPORT_NAME), results_figures, render)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = benchmark.parser(__doc__, clients=False, reuse_fleet=True)
    parser.add_argument("--seconds", type=float, default=SECONDS)
    parser.add_argument("--handshakers", type=int, default=HANDSHAKERS)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    out = benchmark.output_folder(args.out)
    settings = {"seconds": args.seconds, "handshakers": args.handshakers, "rounds": args.rounds}
    results = benchmark.new_results("bench.nginx_certificate", argv, settings=settings, rounds=[])
    run.measure_on_fleet(results, args, measure, write_outputs, out / REPORT_NAME)
    return 0


if __name__ == "__main__":
    sys.exit(main())
