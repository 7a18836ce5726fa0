"""TLS checks from the controller against fleet hosts reached by address, named by their
fleet names (<host>.wsfleet.test), verified against the fleet's Pebble root."""

from __future__ import annotations

import http.client
import socket
import ssl
from pathlib import Path

from cryptography import x509
from sslyze import (
    CertificateInfoExtraArgument,
    ScanCommandsExtraArguments,
    Scanner,
    ServerNetworkLocation,
    ServerScanRequest,
    ServerScanStatusEnum,
)
from sslyze.mozilla_tls_profile.tls_config_checker import (
    SCAN_COMMANDS_NEEDED_BY_MOZILLA_CHECKER,
    MozillaTlsConfiguration,
    ServerNotCompliantWithTlsConfiguration,
    TlsConfigurationEnum,
    check_server_against_tls_configuration,
)

from wsfleet_support.fleet import FLEET_DOMAIN, SHARED_NAME, fleet_name, molecule_fleet

# Pebble 2.4 signs for five years and cannot be told otherwise; real ACME CAs sign for 90 days
# or less. Only this one limit of Mozilla's profile is relaxed, and only for Pebble.
PEBBLE_CERTIFICATE_DAYS = 1826


def fleet_state_dir():
    return molecule_fleet().state


def acme_root():
    """Pebble's root: makes a new one on every start, fetched by fleet/acme.yml."""
    return molecule_fleet().acme_root()


def verifying_context(cafile=None):
    return ssl.create_default_context(cafile=cafile or acme_root())


def peer_certificate(address, server_name, port=443, context=None):
    """The certificate the server sends for server_name, as a cryptography object."""
    context = context or verifying_context()
    raw = socket.create_connection((address, port), timeout=10)
    with context.wrap_socket(raw, server_hostname=server_name) as tls:
        return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))


def unverified_certificate(address, server_name, port=443):
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return peer_certificate(address, server_name, port, context)


def edge_certificate_names(name):
    """The names an edge host's certificate holds in the test fleets: the edges' shared name
    (their floating addresses') and its own, sorted as certificate_names gives them."""
    return sorted([SHARED_NAME, fleet_name(name)])


def certificate_names(certificate):
    extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    return sorted(extension.value.get_values_for_type(x509.DNSName))


class _AddressedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a name that only resolves inside the fleet: connect to its address."""

    def __init__(self, address, server_name, context):
        super().__init__(server_name, 443, timeout=10, context=context)
        self._address = address

    def connect(self):
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)


def https_get(address, server_name, path="/healthz", context=None):
    """(status, headers, body) of GET path, verified against the fleet's ACME root by default."""
    connection = _AddressedHTTPSConnection(address, server_name, context or verifying_context())
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def http_get(address, server_name, path="/"):
    connection = http.client.HTTPConnection(address, 80, timeout=10)
    try:
        connection.request("GET", path, headers={"Host": server_name})
        response = connection.getresponse()
        response.read()
        return response.status, response.headers
    finally:
        connection.close()


def mozilla_intermediate_issues(address, server_name, cafile=None):
    """What sslyze finds against Mozilla's intermediate profile; {} when compliant."""
    request = ServerScanRequest(
        server_location=ServerNetworkLocation(server_name, 443, ip_address=address),
        scan_commands=SCAN_COMMANDS_NEEDED_BY_MOZILLA_CHECKER,
        scan_commands_extra_arguments=ScanCommandsExtraArguments(
            certificate_info=CertificateInfoExtraArgument(
                custom_ca_file=Path(cafile or acme_root())
            )
        ),
    )
    scanner = Scanner()
    scanner.queue_scans([request])
    result = next(scanner.get_results())
    assert result.scan_status == ServerScanStatusEnum.COMPLETED, result.connectivity_error_trace
    profile = MozillaTlsConfiguration.get(TlsConfigurationEnum.MOZILLA_INTERMEDIATE)
    profile = profile.model_copy(update={"maximum_certificate_lifespan": PEBBLE_CERTIFICATE_DAYS})
    try:
        check_server_against_tls_configuration(result, profile)
    except ServerNotCompliantWithTlsConfiguration as error:
        return error.issues
    return {}


__all__ = ["FLEET_DOMAIN", "fleet_name"]
