# -*- coding: utf-8 -*-
# Copyright: wsfleet.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""For action plugins whose module reports missing prerequisites (`needs`: packages to install
or purge, groups and users to create): install them with Ansible's own modules, so that the
module's next call finds them. A host that has them all costs nothing more."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleActionFail

# Package lists older than this are refreshed before an install.
APT_CACHE_VALID_SECONDS = 3600
PACKAGES = "packages"
USERS = "users"


def prerequisite_steps(needs, install_recommends=True):
    """(module, arguments, what it changes) for each missing prerequisite, in order: the
    packages to purge go before the ones to install (another router's, holding its ports)."""
    steps = []
    if needs.get("absent_packages"):
        purge = dict(name=needs["absent_packages"], state="absent", purge=True)
        steps.append(("ansible.builtin.apt", purge, PACKAGES))
    if needs.get("packages"):
        install = dict(
            name=needs["packages"],
            state="present",
            update_cache=True,
            cache_valid_time=APT_CACHE_VALID_SECONDS,
        )
        # Said only when it differs from APT's default, so existing calls stay as they were.
        if not install_recommends:
            install["install_recommends"] = False
        steps.append(("ansible.builtin.apt", install, PACKAGES))
    for group in needs.get("groups") or []:
        steps.append(("ansible.builtin.group", dict(group), USERS))
    for user in needs.get("users") or []:
        arguments = dict((key, value) for key, value in user.items() if value is not None)
        if "home" in arguments:
            arguments["create_home"] = False
        steps.append(("ansible.builtin.user", arguments, USERS))
    return steps


def install_prerequisites(execute_module, needs, task_vars, install_recommends=True):
    """Run each step (execute_module is the action plugin's _execute_module); return what
    changed, among 'packages' and 'users'. A step that fails stops with its module's message."""
    changed = []
    for module, arguments, changes in prerequisite_steps(needs, install_recommends):
        outcome = execute_module(module, module_args=arguments, task_vars=task_vars)
        if outcome.get("failed"):
            raise AnsibleActionFail(
                "%s %s failed: %s" % (module, arguments, outcome.get("msg", "")), result=outcome
            )
        if outcome.get("changed") and changes not in changed:
            changed.append(changes)
    return changed
