"""What the molecule scenarios' testinfra checks share, on the scenario's inventory
(MOLECULE_INVENTORY_FILE) and the shared local fleet (WSFLEET_FLEET_NAME):

- playbooks: the project's playbooks run against the scenario's hosts;
- app: the deployed example app on the app hosts (paths, units, /healthz);
- tls: TLS checks from the controller against hosts reached by address;
- edge: WebSocket checks through a host's TLS port;
- live_load: clients held through the edge while a test acts.
"""
