"""The monitoring host after site.yml (role wsfleet.deploy.monitoring): its alert rules pass
their unit tests, Prometheus scrapes every process, router and host, and the connections it
reports per process are the ones the load generator holds and each process counts itself."""

from wsfleet_support.checks import monitoring

CLIENTS = 200


def test_the_alert_rules_pass_their_unit_tests_on_the_monitoring_host():
    result = monitoring.rules_tests()
    assert result.rc == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_prometheus_scrapes_every_process_router_and_host():
    monitoring.assert_every_target_up("nginx")


def test_prometheus_counts_each_processs_connections_with_nginx():
    monitoring.assert_prometheus_counts_what_the_clients_hold(CLIENTS)
