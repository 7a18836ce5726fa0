"""certbot_certificate with certbot's folders in a temporary one: when certbot is asked, where
the router's links point, when the deploy hook runs."""

import os

import pytest
from ansible_collections.wsfleet.deploy.plugins.modules import certbot_certificate
from module_runner import Commands, run_module

LE = "https://acme-v02.api.letsencrypt.org/directory"
STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"
HOOK = "/etc/letsencrypt/renewal-hooks/deploy/50-wsfleet-reload-router"


def renewal(server=LE, authenticator="standalone", port=8402):
    return (
        "version = 2.9.0\n[renewalparams]\n"
        f"server = {server}\nauthenticator = {authenticator}\nhttp01_port = {port}\n"
    )


class Certbot:
    """certbot's files under root; openssl reads the names given; certonly writes a lineage."""

    def __init__(self, root):
        self.root = root
        self.names = []
        self.certonly_rc = 0
        self.hook_rc = 0

    def lineage(self, names, conf=None):
        live = self.root / "live" / "wsfleet"
        live.mkdir(parents=True, exist_ok=True)
        for name in ("cert.pem", "fullchain.pem", "privkey.pem"):
            (live / name).write_text(name)
        (self.root / "renewal").mkdir(exist_ok=True)
        (self.root / "renewal" / "wsfleet.conf").write_text(conf or renewal())
        self.names = names

    def answer(self, argv):
        if argv[0] == "openssl":
            sans = ", ".join(f"DNS:{name}" for name in self.names)
            return 0, f"X509v3 Subject Alternative Name:\n    {sans}\n", ""
        if argv[:2] == ["certbot", "certonly"]:
            if self.certonly_rc:
                return self.certonly_rc, "", "Challenge failed for domain chat.example.com"
            self.lineage(argv[argv.index("--domains") + 1].split(","))
            return 0, "Successfully received certificate.", ""
        if argv == [HOOK]:
            return (
                self.hook_rc,
                "",
                "nginx: [emerg] cannot load certificate" if self.hook_rc else "",
            )
        raise AssertionError(f"unexpected command {argv}")


@pytest.fixture
def certbot(tmp_path, monkeypatch):
    fake = Certbot(tmp_path / "letsencrypt")
    fake.root.mkdir()
    fake.commands = Commands(fake.answer).install(monkeypatch)
    monkeypatch.setattr(certbot_certificate, "LETSENCRYPT", str(fake.root))
    return fake


def arguments(tmp_path, **changes):
    args = dict(
        cert_name="wsfleet",
        domains=["chat.example.com", "api.example.com"],
        server=LE,
        http_01_port=8402,
        certificate_link=str(tmp_path / "ssl" / "fullchain.pem"),
        key_link=str(tmp_path / "ssl" / "privkey.pem"),
        deploy_hook=HOOK,
    )
    args.update(changes)
    return args


def run(tmp_path, **changes):
    return run_module(certbot_certificate.main, **arguments(tmp_path, **changes))


def commands(certbot):
    return [argv[:2] if argv[0] == "certbot" else argv[:1] for argv in certbot.commands.calls]


def point_links(certbot, tmp_path):
    live = certbot.root / "live" / "wsfleet"
    (tmp_path / "ssl").mkdir(exist_ok=True)
    os.symlink(str(live / "fullchain.pem"), tmp_path / "ssl" / "fullchain.pem")
    os.symlink(str(live / "privkey.pem"), tmp_path / "ssl" / "privkey.pem")


def test_a_first_certificate_is_requested_linked_and_the_hook_runs_once(certbot, tmp_path):
    ok, result = run(tmp_path)
    assert ok, result
    assert result["changed"] and result["requested"]
    assert result["reason"] == "no certificate yet"
    live = certbot.root / "live" / "wsfleet"
    assert os.readlink(tmp_path / "ssl" / "fullchain.pem") == str(live / "fullchain.pem")
    assert os.readlink(tmp_path / "ssl" / "privkey.pem") == str(live / "privkey.pem")
    assert result["links_changed"] == [
        str(tmp_path / "ssl" / "fullchain.pem"),
        str(tmp_path / "ssl" / "privkey.pem"),
    ]
    assert commands(certbot) == [["certbot", "certonly"], [HOOK]]
    # Without a CA bundle, certbot uses the host's.
    assert certbot.commands.options[0]["environ_update"] == {}


def test_a_second_run_changes_nothing(certbot, tmp_path):
    run(tmp_path)
    certbot.commands.calls.clear()
    ok, result = run(tmp_path)
    assert ok, result
    assert not result["changed"]
    assert (result["requested"], result["reason"], result["links_changed"]) == (False, None, [])
    assert commands(certbot) == [["openssl"]]


@pytest.mark.parametrize(
    ("names", "conf", "changes", "reason"),
    [
        (["api.example.com", "chat.example.com"], renewal(), {}, None),
        (
            ["chat.example.com"],
            renewal(),
            {},
            "names chat.example.com, wanted api.example.com, chat.example.com",
        ),
        (
            ["api.example.com", "chat.example.com"],
            renewal(),
            {"server": STAGING},
            f"issued by {LE}, wanted {STAGING}",
        ),
        (
            ["api.example.com", "chat.example.com"],
            renewal(authenticator="webroot"),
            {},
            "renewed by webroot, wanted standalone",
        ),
        (
            ["api.example.com", "chat.example.com"],
            renewal(port=80),
            {},
            "challenges on port 80, wanted 8402",
        ),
    ],
    ids=["same", "names", "acme-server", "authenticator", "port"],
)
def test_an_existing_certificate_is_requested_again_only_when_it_differs(
    certbot, tmp_path, names, conf, changes, reason
):
    certbot.lineage(names, conf)
    point_links(certbot, tmp_path)
    ok, result = run(tmp_path, **changes)
    assert ok, result
    assert result["reason"] == reason
    assert result["requested"] is (reason is not None)
    assert result["changed"] is (reason is not None)
    expected = [["openssl"], ["certbot", "certonly"], [HOOK]] if reason else [["openssl"]]
    assert commands(certbot) == expected
    assert result["links_changed"] == []


def test_only_the_renewal_file_without_a_certificate_is_no_certificate(certbot, tmp_path):
    (certbot.root / "renewal").mkdir()
    (certbot.root / "renewal" / "wsfleet.conf").write_text(renewal())
    ok, result = run(tmp_path)
    assert ok, result
    assert result["reason"] == "no certificate yet"
    assert commands(certbot) == [["certbot", "certonly"], [HOOK]]


def test_files_the_router_read_before_become_links_and_the_hook_runs(certbot, tmp_path):
    certbot.lineage(["api.example.com", "chat.example.com"])
    (tmp_path / "ssl").mkdir()
    (tmp_path / "ssl" / "fullchain.pem").write_text("self-signed placeholder")
    os.symlink("/etc/ssl/private/ssl-cert-snakeoil.key", tmp_path / "ssl" / "privkey.pem")
    ok, result = run(tmp_path)
    assert ok, result
    assert result["changed"] and not result["requested"]
    assert result["links_changed"] == [
        str(tmp_path / "ssl" / "fullchain.pem"),
        str(tmp_path / "ssl" / "privkey.pem"),
    ]
    assert os.path.islink(tmp_path / "ssl" / "fullchain.pem")
    assert (tmp_path / "ssl" / "privkey.pem").read_text() == "privkey.pem"
    assert commands(certbot) == [["openssl"], [HOOK]]
    assert sorted(os.listdir(tmp_path / "ssl")) == ["fullchain.pem", "privkey.pem"]


def test_check_mode_reports_and_does_nothing(certbot, tmp_path):
    ok, result = run(tmp_path, _ansible_check_mode=True)
    assert ok, result
    assert result["changed"] and result["requested"]
    assert result["reason"] == "no certificate yet"
    assert len(result["links_changed"]) == 2
    assert commands(certbot) == []
    assert not (tmp_path / "ssl").exists()


def test_the_request_goes_through_the_private_ca_bundle(certbot, tmp_path):
    ok, result = run(tmp_path, ca_bundle="/etc/wsfleet/acme-ca.pem", email="ops@example.com")
    assert ok, result
    certonly = certbot.commands.calls[0]
    assert certbot.commands.options[0]["environ_update"] == {
        "REQUESTS_CA_BUNDLE": "/etc/wsfleet/acme-ca.pem"
    }
    assert certonly[-2:] == ["--email", "ops@example.com"]
    assert certonly[certonly.index("--http-01-port") + 1] == "8402"


def test_a_refused_request_fails_and_touches_no_link(certbot, tmp_path):
    certbot.certonly_rc = 1
    ok, result = run(tmp_path)
    assert not ok
    assert "certbot could not obtain the certificate" in result["msg"]
    assert "Challenge failed" in result["msg"]
    assert not (tmp_path / "ssl").exists()
    assert commands(certbot) == [["certbot", "certonly"]]


def test_a_hook_that_fails_fails_saying_the_certificate_is_in_place(certbot, tmp_path):
    certbot.hook_rc = 1
    ok, result = run(tmp_path)
    assert not ok
    assert result["msg"] == (
        "the certificate is in place, but the router did not reload: "
        "nginx: [emerg] cannot load certificate"
    )
    assert os.path.islink(tmp_path / "ssl" / "fullchain.pem")


def test_an_unreadable_certificate_fails(certbot, tmp_path):
    certbot.lineage(["chat.example.com"])
    certbot.commands.answer = lambda argv: (1, "", "unable to load certificate")
    ok, result = run(tmp_path)
    assert not ok
    assert "could not read" in result["msg"]
    assert "unable to load certificate" in result["msg"]
    assert len(certbot.commands.calls) == 1
