#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: wsfleet.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: certbot_certificate
short_description: Obtain a certificate with certbot behind either router and point the router at it
version_added: 0.2.0
description:
  - Asks the ACME server for a certificate (C(certbot certonly)) only when the host has none, or
    its names, its ACME server or the way certbot proves the names differ from what is asked;
    otherwise leaves it to certbot's renewal timer, so that a second run changes nothing.
  - "Certbot proves each name with its own server on a loopback port (C(standalone)), to which
    the router in front, NGINX or HAProxy alike, forwards C(/.well-known/acme-challenge/) on its
    plain port: the certificate and its renewals do not depend on which router runs."
  - Replaces the files the router reads with links to certbot's live files, then, when the
    certificate or a link changed, runs the deploy hook (the one renewals run) once.
author:
  - wsfleet.deploy maintainers (!UNKNOWN)
options:
  cert_name:
    description: certbot's name for the certificate (its folders under C(/etc/letsencrypt)).
    type: str
    required: true
  domains:
    description: Names on the certificate; the first is its subject.
    type: list
    elements: str
    required: true
  server:
    description: The ACME directory URL.
    type: str
    required: true
  key_type:
    description: The certificate's key type.
    type: str
    choices: [ecdsa, rsa]
    default: ecdsa
  email:
    description: Account email for expiry notices; empty registers without one.
    type: str
    default: ""
  http_01_port:
    description: Loopback port of certbot's own server, where the router forwards the challenges.
    type: int
    required: true
  ca_bundle:
    description:
      - CA bundle that verifies the ACME server's HTTPS certificate (a private CA); without
        it, the host's.
    type: path
  certificate_link:
    description: Where the router reads the certificate chain; becomes a link to C(fullchain.pem).
    type: path
    required: true
  key_link:
    description: Where the router reads the key; becomes a link to C(privkey.pem).
    type: path
    required: true
  deploy_hook:
    description: Run when the certificate or a link changed, as certbot runs it after a renewal.
    type: path
    required: true
attributes:
  check_mode:
    description: Reports whether it would ask for a certificate or change a link, and does neither.
    support: full
  diff_mode:
    description: Nothing to show beyond RV(reason).
    support: none
"""

EXAMPLES = r"""
- name: Obtain the edge's certificate from Let's Encrypt
  wsfleet.deploy.certbot_certificate:
    cert_name: wsfleet
    domains: [chat.example.com]
    server: https://acme-v02.api.letsencrypt.org/directory
    http_01_port: 8402
    certificate_link: /etc/ssl/wsfleet/fullchain.pem
    key_link: /etc/ssl/wsfleet/privkey.pem
    deploy_hook: /etc/letsencrypt/renewal-hooks/deploy/50-wsfleet-reload-router
"""

RETURN = r"""
requested:
  description: Whether certbot was (or would be, in check mode) asked for a certificate.
  returned: always
  type: bool
reason:
  description: Why it was asked, or null.
  returned: always
  type: str
  sample: no certificate yet
links_changed:
  description: The links that were (or would be) pointed at certbot's live files.
  returned: always
  type: list
  elements: str
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.wsfleet.deploy.plugins.module_utils.certbot import (
    certonly_argv,
    request_reason,
    san_names,
)
from ansible_collections.wsfleet.deploy.plugins.module_utils.releases import replace_symlink

LETSENCRYPT = "/etc/letsencrypt"


def read_lineage(module, cert_name):
    """{names, renewal_conf} of the certificate certbot keeps under that name, or None."""
    renewal = os.path.join(LETSENCRYPT, "renewal", "%s.conf" % cert_name)
    live_cert = os.path.join(LETSENCRYPT, "live", cert_name, "cert.pem")
    if not (os.path.exists(renewal) and os.path.exists(live_cert)):
        return None
    rc, out, err = module.run_command(
        ["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", live_cert]
    )
    if rc != 0:
        module.fail_json(msg="could not read %s: %s" % (live_cert, err.strip()))
    with open(renewal) as handle:
        return dict(names=san_names(out), renewal_conf=handle.read())


def request(module):
    params = module.params
    environment = {"REQUESTS_CA_BUNDLE": params["ca_bundle"]} if params["ca_bundle"] else {}
    rc, out, err = module.run_command(certonly_argv(params), environ_update=environment)
    if rc != 0:
        module.fail_json(msg="certbot could not obtain the certificate: %s" % (err or out).strip())


def point_links(module):
    """Point each link at certbot's live file; the ones that changed (or would)."""
    live = os.path.join(LETSENCRYPT, "live", module.params["cert_name"])
    wanted = (
        (module.params["certificate_link"], os.path.join(live, "fullchain.pem")),
        (module.params["key_link"], os.path.join(live, "privkey.pem")),
    )
    changed = []
    for link, target in wanted:
        if os.path.islink(link) and os.readlink(link) == target:
            continue
        changed.append(link)
        if not module.check_mode:
            folder = os.path.dirname(link)
            if not os.path.isdir(folder):
                os.makedirs(folder, 0o755)
            replace_symlink(link, target)
    return changed


def main():
    module = AnsibleModule(
        argument_spec=dict(
            cert_name=dict(type="str", required=True),
            domains=dict(type="list", elements="str", required=True),
            server=dict(type="str", required=True),
            key_type=dict(type="str", choices=["ecdsa", "rsa"], default="ecdsa"),
            email=dict(type="str", default=""),
            http_01_port=dict(type="int", required=True),
            ca_bundle=dict(type="path"),
            certificate_link=dict(type="path", required=True),
            key_link=dict(type="path", required=True),
            deploy_hook=dict(type="path", required=True),
        ),
        supports_check_mode=True,
    )
    params = module.params
    wanted = dict(
        names=params["domains"], server=params["server"], http_01_port=params["http_01_port"]
    )
    reason = request_reason(read_lineage(module, params["cert_name"]), wanted)
    if reason and not module.check_mode:
        request(module)
    links_changed = point_links(module)
    changed = bool(reason or links_changed)
    if changed and not module.check_mode:
        rc, out, err = module.run_command([module.params["deploy_hook"]])
        if rc != 0:
            module.fail_json(
                msg="the certificate is in place, but the router did not reload: %s"
                % (err or out).strip()
            )
    module.exit_json(
        changed=changed, requested=bool(reason), reason=reason, links_changed=links_changed
    )


if __name__ == "__main__":
    main()
