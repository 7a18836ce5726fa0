# -*- coding: utf-8 -*-
# Copyright: wsfleet.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Files given by a template (`template`, `template_vars`) rendered on the controller by an
action plugin, as the template module renders its source. The template lookup does the same
but deep-copies every variable of the host for each file: measured, that copy was a tenth of a
no-op site.yml's CPU. Here the variables are copied shallowly, once per task."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible.errors import AnsibleActionFail

try:  # ansible-core 2.19 and later
    from ansible._internal._templating._template_vars import generate_ansible_template_vars
    from ansible.template import trust_as_template
except ImportError:  # ansible-core 2.16 to 2.18
    from ansible.template import generate_ansible_template_vars

    def trust_as_template(text):
        return text


TEMPLATE = "template"
TEMPLATE_VARS = "template_vars"


def search_path(task_vars, source):
    """Where {% include %} and {% import %} look: the template's folder, then each folder of
    the task's search path and its templates/, as for the template module."""
    folders = [os.path.dirname(source)]
    for folder in task_vars.get("ansible_search_path", []):
        folders.extend([os.path.join(folder, "templates"), folder])
    return folders


class TemplateRenderer(object):
    """Renders a role's templates for one task: `find` locates a template by name (the action
    plugin's _find_needle), `read` returns a file's text, `templar` is the task's templar."""

    def __init__(self, find, read, templar, task_vars):
        self.find, self.read, self.templar = find, read, templar
        self.variables = dict(task_vars)

    def render(self, name, extra_vars=None):
        source = self.find(TEMPLATE + "s", name)
        variables = dict(self.variables)
        variables.update(
            generate_ansible_template_vars(
                name, fullpath=source, include_ansible_managed="ansible_managed" not in variables
            )
        )
        variables.update(extra_vars or {})
        templar = self.templar.copy_with_new_env(
            searchpath=search_path(self.variables, source), available_variables=variables
        )
        text = templar.template(trust_as_template(self.read(source)), escape_backslashes=False)
        return "" if text is None else text

    def render_files(self, files):
        """The files with each template rendered into `content`."""
        rendered = []
        for entry in files or []:
            entry = dict(entry)
            name = entry.pop(TEMPLATE, None)
            extra_vars = entry.pop(TEMPLATE_VARS, None)
            if name is not None:
                if entry.get("content") is not None:
                    raise AnsibleActionFail(
                        "%s: give content or template, not both" % entry.get("path")
                    )
                entry["content"] = self.render(name, extra_vars)
            rendered.append(entry)
        return rendered
