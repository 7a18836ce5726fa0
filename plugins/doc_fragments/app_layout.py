# -*- coding: utf-8 -*-
# Copyright: wsfleet.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Where the wsfleet.deploy.app role keeps an app on a host and how its processes listen:
    # the role passes these from its vars, where each path is defined once
    # (module_utils/app_processes.py's LAYOUT_OPTIONS is the argument spec they document).
    DOCUMENTATION = r"""
options:
  name:
    description: The app's name, as the role names its units, programs and directories.
    type: str
    required: true
  base_dir:
    description: The app's base directory, holding C(releases/), C(current) and C(previous).
    type: path
    required: true
  runtime_dir:
    description:
      - Where the processes' unix sockets and the slots' links live, such as C(/run/<name>).
    type: path
    required: true
  bind:
    description: How each process listens, as the role's C(wsfleet_app_bind).
    type: str
    choices: [unix, tcp, reuseport]
    default: unix
  tcp_address:
    description: The address the processes listen on with O(bind=tcp) or O(bind=reuseport).
    type: str
    default: 127.0.0.1
  tcp_port_base:
    description:
      - Port of process slot 1, where the router connects (O(bind=tcp)), or the port shared by
        all processes (O(bind=reuseport)).
    type: int
    default: 8001
  tcp_side_port_base:
    description:
      - With O(bind=tcp), the port of side C(a) of slot 1; each slot takes two ports from here
        on. The range must not overlap the slots' own ports.
    type: int
    default: 9001
  slot_ports_file:
    description:
      - With O(bind=tcp), where the NAT table is written for the boot (C(nft -f)), such as
        C(/etc/<name>/slot-ports.nft); removed with any other binding.
    type: path
    required: true
  slots_tmpfiles:
    description:
      - With O(bind=unix), the systemd-tmpfiles file that makes each slot's link to its live
        socket again at boot, such as C(/etc/tmpfiles.d/<name>-slots.conf); removed with any
        other binding.
    type: path
    required: true
  supervisor_boot_file:
    description:
      - Under supervisor, where the programs that start with supervisord are written, as
        C(WSFLEET_LIVE_PROGRAMS=<program> ...), such as C(/etc/<name>/supervisor-programs.env).
    type: path
    required: true
  supervisor_conf:
    description:
      - Supervisor's file of this app's programs, such as C(/etc/supervisor/conf.d/<name>.conf);
        with O(process_manager=auto), the app runs under supervisor when it exists.
    type: path
    required: true
"""
