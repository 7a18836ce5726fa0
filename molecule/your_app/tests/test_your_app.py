"""A user's own app (examples/chat_app) on the shared fleet, deployed by the commands of the
README's "Using it on your own fleet", run as they are written there: each command is looked up
in the README, then run by a shell whose home is a clean controller's (no collection, no
Ansible settings, no checkout but the clone the collection is built from).

The steps depend on each other: tests of one module, run in file order.
"""

import json
import os
import re
import shutil
import subprocess

import pytest
import yaml

from wsfleet_support.checks import edge
from wsfleet_support.checks.edge import remote
from wsfleet_support.checks.live_load import assert_nothing_dropped, live_clients
from wsfleet_support.fleet import FLEET_DOMAIN, fleet_name, molecule_fleet
from wsfleet_support.paths import PROJECT

README = PROJECT / "README.md"
CHECKLIST = "## Using it on your own fleet"
CHAT_APP = PROJECT / "examples" / "chat_app"
CLIENTS = 300
TIMEOUT_SECONDS = 900
TOKENS = ("token-for-clients", "token-for-the-check")
CHECK_PATH = "/ws?room=health"
SUBPROTOCOL = "chat.v1"
OTHER_ORIGIN = f"https://www.{FLEET_DOMAIN}"

# The README's commands, in its order.
BUILD = "ansible-galaxy collection build --force --output-path ~/"
INSTALL = "ansible-galaxy collection install --force ~/wsfleet-deploy-*.tar.gz"
VAULT_PASS = "(umask 077 && openssl rand -base64 32 > ~/.vault-pass)"
ENCRYPT = (
    "ansible-vault encrypt --vault-password-file ~/.vault-pass "
    "~/fleet/inventory/group_vars/all/vault.yml"
)
SITE = "ansible-playbook -i inventory --vault-password-file ~/.vault-pass wsfleet.deploy.site"
SMOKE_TEST = (
    "ansible-playbook -i inventory --vault-password-file ~/.vault-pass wsfleet.deploy.smoke_test"
)
ROLLING_RESTART = (
    "ansible-playbook -i inventory --vault-password-file ~/.vault-pass "
    "wsfleet.deploy.rolling_restart"
)
LIST_RELEASES = (
    "ansible -i inventory --vault-password-file ~/.vault-pass app "
    "-a 'ls -l /srv/chat /srv/chat/releases'"
)

FLEET = molecule_fleet()
EDGE = FLEET.hosts_of("edge")[0]["name"]
APPS = [host["name"] for host in FLEET.hosts_of("app")]


def readme_says(command):
    """The command, once its README section says it word for word."""
    readme = README.read_text()
    checklist = readme[readme.index(CHECKLIST) :].split("\n## ", 1)[0]
    assert command in checklist, f"{CHECKLIST} no longer says: {command}"
    return command


def as_the_user(home, command, cwd):
    """A README command, run by a shell whose home is the user's: nothing of the suite's
    environment (molecule's, Ansible's settings) reaches it."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("ANSIBLE_", "MOLECULE_"))
    }
    environment |= {"HOME": str(home), "ANSIBLE_NOCOLOR": "1"}
    result = subprocess.run(
        ["bash", "-c", command],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode == 0, f"{command}\n{result.stdout[-4000:]}\n{result.stderr[-2000:]}"
    return result.stdout


def inventory(home):
    """Step 3's inventory, with this fleet's addresses and what reaches them over SSH."""
    hosts = {group: {"hosts": {}} for group in ("edge", "app")}
    for host in FLEET.hosts():
        if host["group"] in hosts:
            hosts[host["group"]]["hosts"][host["name"]] = {"ansible_host": host["address"]}
    shutil.copy(FLEET.ssh_key, home / "id_ed25519")
    shutil.copy(FLEET.known_hosts, home / "known_hosts")
    connection = {
        "ansible_user": "root",
        "ansible_ssh_private_key_file": str(home / "id_ed25519"),
        "ansible_ssh_common_args": f"-o UserKnownHostsFile={home / 'known_hosts'}",
    }
    return {"all": {"vars": connection, "children": hosts}}


def settings(home):
    """Step 4's settings for the chat app, the fleet's Pebble as the private ACME CA."""
    for name in ("acme-api-ca.pem", "acme-root.pem"):
        shutil.copy(FLEET.state / name, home / name)
    return {
        "wsfleet_app_name": "chat",
        "wsfleet_app_entrypoint": "wsfleet-chat",
        "wsfleet_app_source_path": "~/src/chat",
        "wsfleet_app_environment": {"CHAT_TOKENS": "{{ vault_chat_tokens }}"},
        "wsfleet_check_path": CHECK_PATH,
        "wsfleet_check_headers": {"Authorization": "Bearer {{ vault_chat_check_token }}"},
        "wsfleet_check_subprotocols": [SUBPROTOCOL],
        "wsfleet_check_expect": '^\\{"type": "welcome"',
        "wsfleet_certbot_domains": [fleet_name(EDGE)],
        "wsfleet_certbot_email": f"ops@{FLEET_DOMAIN}",
        "wsfleet_certbot_server": f"https://{fleet_name('acme1')}:14000/dir",
        "wsfleet_certbot_server_ca_file": str(home / "acme-api-ca.pem"),
        "wsfleet_smoke_test_ca_path": str(home / "acme-root.pem"),
        "wsfleet_router_allowed_origins": [f"https://{fleet_name(EDGE)}", OTHER_ORIGIN],
    }


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A clean controller's home: the app's source, then the README's steps 2 to 5."""
    home = tmp_path_factory.mktemp("controller")
    shutil.copytree(CHAT_APP, home / "src" / "chat", ignore=shutil.ignore_patterns("dist"))
    as_the_user(home, readme_says(BUILD), cwd=PROJECT)
    as_the_user(home, readme_says(INSTALL), cwd=home)
    group_vars = home / "fleet" / "inventory" / "group_vars" / "all"
    group_vars.mkdir(parents=True)
    (group_vars.parent.parent / "hosts.yml").write_text(yaml.safe_dump(inventory(home)))
    (group_vars / "main.yml").write_text(yaml.safe_dump(settings(home)))
    secrets = {"vault_chat_tokens": " ".join(TOKENS), "vault_chat_check_token": TOKENS[1]}
    (group_vars / "vault.yml").write_text(yaml.safe_dump(secrets))
    as_the_user(home, readme_says(VAULT_PASS), cwd=home)
    as_the_user(home, readme_says(ENCRYPT), cwd=home)
    # The README's advice for faster runs.
    (home / "fleet" / "ansible.cfg").write_text("[ssh_connection]\npipelining = True\n")
    return home


def test_the_collection_is_installed_from_the_tarball_and_the_secrets_are_encrypted(home):
    collection = home / ".ansible" / "collections" / "ansible_collections" / "wsfleet" / "deploy"
    assert json.loads((collection / "MANIFEST.json").read_text())["collection_info"]["name"]
    vault = (home / "fleet" / "inventory" / "group_vars" / "all" / "vault.yml").read_text()
    assert vault.startswith("$ANSIBLE_VAULT;") and TOKENS[0] not in vault


def test_site_deploys_the_app_through_its_gate_and_the_smoke_test_passes(home):
    output = as_the_user(home, readme_says(SITE), cwd=home / "fleet")
    assert re.search(rf"{EDGE}\s+: ok=\d+\s+changed=\d+\s+unreachable=0\s+failed=0", output)
    as_the_user(home, readme_says(SMOKE_TEST), cwd=home / "fleet")
    for name in APPS:
        # Its dependency published only as an sdist, built on the controller, on every host.
        python = "/srv/chat/current/venv/bin/python"
        script = "import docopt; print(docopt.__version__)"
        assert remote(name).check_output(f'{python} -c "{script}"') == "0.6.2"


def handshake(path=CHECK_PATH, token=TOKENS[0], subprotocols=(SUBPROTOCOL,), origin=None):
    """A wss:// handshake through the edge: the first message, or the refusal's status."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if origin:
        headers["Origin"] = origin
    answer = edge.first_message(
        EDGE, path, additional_headers=headers, subprotocols=list(subprotocols) or None
    )
    return json.loads(answer) if isinstance(answer, str) else answer


def test_the_edge_serves_the_app_by_its_rules():
    assert handshake()["type"] == "welcome"
    assert handshake(origin=OTHER_ORIGIN)["type"] == "welcome"
    assert handshake(origin="https://elsewhere.example") == 403
    assert handshake(token=None) == 401
    assert handshake(subprotocols=()) == 400
    assert handshake(path="/") == 404


def test_a_rolling_restart_under_load_drops_nobody(home):
    with live_clients(
        CLIENTS,
        path="/ws?room=load-{client}",
        headers={"Authorization": f"Bearer {TOKENS[0]}"},
        subprotocols=[SUBPROTOCOL],
        message_field="text",
        message_fields={"type": "say"},
    ) as (reports, _runner):
        as_the_user(home, readme_says(ROLLING_RESTART), cwd=home / "fleet")
    report = reports[0]
    assert_nothing_dropped(report)
    # A welcome on every handshake, nothing else but the answers.
    assert report.notices == report.handshakes_ok, report.summary()


def test_the_releases_each_host_keeps_are_listed(home):
    listing = as_the_user(home, readme_says(LIST_RELEASES), cwd=home / "fleet")
    for name in APPS:
        assert re.search(rf"^{name} \| CHANGED", listing, re.MULTILINE), listing
    assert re.search(r"current -> /srv/chat/releases/1\.0\.0-", listing), listing
