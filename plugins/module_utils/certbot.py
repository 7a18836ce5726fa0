# -*- coding: utf-8 -*-
# Copyright: wsfleet.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""When certbot must be asked for a certificate, and how: decided from what the host's
certificate and its renewal settings say, tested by tables."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

# How certbot proves each name behind either router: its own server on a loopback port, to which
# the router forwards /.well-known/acme-challenge/ on the plain port.
AUTHENTICATOR = "standalone"
LOOPBACK = "127.0.0.1"


def san_names(openssl_ext_output):
    """The DNS names of `openssl x509 -noout -ext subjectAltName`, sorted."""
    return sorted(re.findall(r"DNS:([^,\s]+)", openssl_ext_output or ""))


def renewal_setting(renewal_conf, name):
    """A `name = value` setting of certbot's renewal file, or None."""
    match = re.search(r"(?m)^%s = (\S+)\s*$" % re.escape(name), renewal_conf or "")
    return match.group(1) if match else None


def request_reason(lineage, wanted):
    """Why the certificate must be requested again, or None to leave it to the renewal timer.

    lineage: None when there is no certificate, else {names, renewal_conf}; wanted: {names,
    server, http_01_port}."""
    if lineage is None:
        return "no certificate yet"
    if lineage["names"] != sorted(wanted["names"]):
        names = ", ".join(lineage["names"])
        return "names %s, wanted %s" % (names, ", ".join(sorted(wanted["names"])))
    conf = lineage["renewal_conf"]
    if renewal_setting(conf, "server") != wanted["server"]:
        return "issued by %s, wanted %s" % (renewal_setting(conf, "server"), wanted["server"])
    if renewal_setting(conf, "authenticator") != AUTHENTICATOR:
        return "renewed by %s, wanted %s" % (renewal_setting(conf, "authenticator"), AUTHENTICATOR)
    if renewal_setting(conf, "http01_port") != str(wanted["http_01_port"]):
        return "challenges on port %s, wanted %s" % (
            renewal_setting(conf, "http01_port"),
            wanted["http_01_port"],
        )
    return None


def certonly_argv(params):
    """certbot's command line for a new certificate with the module's parameters."""
    argv = [
        "certbot",
        "certonly",
        "--non-interactive",
        "--agree-tos",
        "--cert-name",
        params["cert_name"],
        "--domains",
        ",".join(params["domains"]),
        "--server",
        params["server"],
        "--key-type",
        params["key_type"],
        "--" + AUTHENTICATOR,
        "--http-01-address",
        LOOPBACK,
        "--http-01-port",
        str(params["http_01_port"]),
        # Same names, other ACME server or way of proving them: certbot would keep the old one.
        "--force-renewal",
    ]
    if params["email"]:
        return [*argv, "--email", params["email"]]
    return [*argv, "--register-unsafely-without-email"]
