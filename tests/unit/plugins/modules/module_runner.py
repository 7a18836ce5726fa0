"""Run a module's main() in-process, as Ansible would, and return what it exited with."""

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args


class _ModuleExit(Exception):
    def __init__(self, ok, result):
        super().__init__(result)
        self.ok, self.result = ok, result


def _exit_json(self, **result):
    raise _ModuleExit(True, result)


def _fail_json(self, msg, **result):
    result.update(failed=True, msg=msg)
    raise _ModuleExit(False, result)


def run_module(main, **args):
    """(ok, result) of main() run with these module arguments. Usable from session fixtures."""
    with pytest.MonkeyPatch.context() as patch, patch_module_args(args):
        patch.setattr(basic.AnsibleModule, "exit_json", _exit_json)
        patch.setattr(basic.AnsibleModule, "fail_json", _fail_json)
        try:
            main()
        except _ModuleExit as outcome:
            return outcome.ok, outcome.result
    raise AssertionError("the module returned without exit_json or fail_json")


class Commands:
    """Stands in for AnsibleModule.run_command once installed: answer(argv) gives (rc, out,
    err), (0, "", "") by default; every call is kept (calls), with its keyword arguments
    (options)."""

    def __init__(self, answer=None):
        self.answer = answer or (lambda argv: (0, "", ""))
        self.calls, self.options = [], []

    def run_command(self, args, **options):
        argv = list(args)
        self.calls.append(argv)
        self.options.append(options)
        return self.answer(argv)

    def install(self, monkeypatch):
        def run_command(module, args, *positional, **options):
            return self.run_command(args, **options)

        monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
        return self
