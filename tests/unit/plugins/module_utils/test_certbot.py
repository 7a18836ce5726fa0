"""Whether certbot must be asked for a certificate, and its command line."""

import pytest
from ansible_collections.wsfleet.deploy.plugins.module_utils.certbot import (
    certonly_argv,
    renewal_setting,
    request_reason,
    san_names,
)

LE = "https://acme-v02.api.letsencrypt.org/directory"
STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"

RENEWAL = f"""\
# renew_before_expiry = 30 days
version = 2.1.0
archive_dir = /etc/letsencrypt/archive/wsfleet
cert = /etc/letsencrypt/live/wsfleet/cert.pem

# Options used in the renewal process
[renewalparams]
account = 0123456789abcdef
server = {LE}
authenticator = standalone
http01_port = 8402
http01_address = 127.0.0.1
key_type = ecdsa
"""

SAN = """\
X509v3 Subject Alternative Name:
    DNS:chat.example.com, DNS:api.example.com, IP Address:10.0.0.1
"""


@pytest.mark.parametrize(
    ("output", "names"),
    [
        (SAN, ["api.example.com", "chat.example.com"]),
        ("X509v3 Subject Alternative Name:\n    DNS:*.example.com\n", ["*.example.com"]),
        ("No extensions in certificate\n", []),
        ("", []),
        (None, []),
    ],
    ids=["two-names-sorted", "wildcard", "no-san", "empty", "none"],
)
def test_san_names(output, names):
    assert san_names(output) == names


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("server", LE),
        ("authenticator", "standalone"),
        ("http01_port", "8402"),
        # Commented out, or a longer name that ends the same: not the setting.
        ("renew_before_expiry", None),
        ("port", None),
        ("webroot_path", None),
    ],
    ids=["server", "authenticator", "port", "commented", "suffix-of-another", "absent"],
)
def test_renewal_setting(name, value):
    assert renewal_setting(RENEWAL, name) == value


def test_a_missing_renewal_file_has_no_setting():
    assert renewal_setting(None, "server") is None


def lineage(names=("api.example.com", "chat.example.com"), conf=RENEWAL):
    return {"names": sorted(names), "renewal_conf": conf}


WANTED = {"names": ["chat.example.com", "api.example.com"], "server": LE, "http_01_port": 8402}


@pytest.mark.parametrize(
    ("found", "wanted", "reason"),
    [
        (None, WANTED, "no certificate yet"),
        # The same names in another order: nothing to ask.
        (lineage(), WANTED, None),
        (
            lineage(names=["chat.example.com"]),
            WANTED,
            "names chat.example.com, wanted api.example.com, chat.example.com",
        ),
        (
            lineage(),
            dict(WANTED, names=["chat.example.com"]),
            "names api.example.com, chat.example.com, wanted chat.example.com",
        ),
        (lineage(), dict(WANTED, server=STAGING), f"issued by {LE}, wanted {STAGING}"),
        (
            lineage(conf=RENEWAL.replace("authenticator = standalone", "authenticator = nginx")),
            WANTED,
            "renewed by nginx, wanted standalone",
        ),
        (
            lineage(conf=RENEWAL.replace("authenticator = standalone\n", "")),
            WANTED,
            "renewed by None, wanted standalone",
        ),
        (lineage(), dict(WANTED, http_01_port=8403), "challenges on port 8402, wanted 8403"),
        (
            lineage(conf=RENEWAL.replace("http01_port = 8402\n", "")),
            WANTED,
            "challenges on port None, wanted 8402",
        ),
        (lineage(conf=""), WANTED, f"issued by None, wanted {LE}"),
    ],
    ids=[
        "no-certificate",
        "same-names-other-order",
        "name-added",
        "name-removed",
        "other-acme-server",
        "other-authenticator",
        "no-authenticator",
        "other-port",
        "no-port",
        "empty-renewal-file",
    ],
)
def test_request_reason(found, wanted, reason):
    assert request_reason(found, wanted) == reason


PARAMS = {
    "cert_name": "wsfleet",
    "domains": ["chat.example.com", "api.example.com"],
    "server": LE,
    "key_type": "ecdsa",
    "http_01_port": 8402,
    "email": "",
}

ARGV = [
    "certbot",
    "certonly",
    "--non-interactive",
    "--agree-tos",
    "--cert-name",
    "wsfleet",
    "--domains",
    "chat.example.com,api.example.com",
    "--server",
    LE,
    "--key-type",
    "ecdsa",
    "--standalone",
    "--http-01-address",
    "127.0.0.1",
    "--http-01-port",
    "8402",
    "--force-renewal",
]


@pytest.mark.parametrize(
    ("params", "argv"),
    [
        (PARAMS, [*ARGV, "--register-unsafely-without-email"]),
        (dict(PARAMS, email="ops@example.com"), [*ARGV, "--email", "ops@example.com"]),
        (
            dict(PARAMS, key_type="rsa", http_01_port=8500),
            [
                *[{"ecdsa": "rsa", "8402": "8500"}.get(part, part) for part in ARGV],
                "--register-unsafely-without-email",
            ],
        ),
    ],
    ids=["without-email", "with-email", "rsa-other-port"],
)
def test_certonly_argv(params, argv):
    assert certonly_argv(params) == argv
