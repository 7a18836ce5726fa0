"""The WebSocket load generator's command line; the generator itself is
wsfleet_support.wsload (support/), which the molecule scenarios use too.

    python -m bench.wsload --url wss://app.example.test/ --clients 2000 --rate 1 \\
        --duration 60 --ramp 10 --ca-file ca.pem --connect-to 192.0.2.10 --json out.json
"""

import sys

from wsfleet_support.wsload import (
    HANDSHAKE_ERRORS,
    LoadConfig,
    LoadRunner,
    Report,
    connect_options,
    describe_handshake_failure,
    main,
    raise_open_files_limit,
    run_load,
)

__all__ = [
    "HANDSHAKE_ERRORS",
    "LoadConfig",
    "LoadRunner",
    "Report",
    "connect_options",
    "describe_handshake_failure",
    "main",
    "raise_open_files_limit",
    "run_load",
]

if __name__ == "__main__":
    sys.exit(main())
