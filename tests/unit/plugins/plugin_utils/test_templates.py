"""Files given by a template, rendered on the controller by an action plugin (host_config's):
found in the role's templates, with the task's variables, ansible_managed and the file's own
template_vars; {% import %} of a template beside it works; content and template are exclusive."""

from pathlib import Path

import pytest
from ansible.errors import AnsibleActionFail
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar
from ansible_collections.wsfleet.deploy.plugins.plugin_utils.templates import TemplateRenderer

TEMPLATES = {
    "plain.j2": "{{ ansible_managed | comment }}\nport={{ port }}\n",
    "item.j2": "{% from 'macros.j2' import listen with context %}{{ listen(item) }}\n",
    "macros.j2": "{% macro listen(slot) %}slot={{ slot }} port={{ port }}{% endmacro %}",
}


@pytest.fixture
def renderer(tmp_path):
    folder = tmp_path / "templates"
    folder.mkdir()
    for name, text in TEMPLATES.items():
        (folder / name).write_text(text)
    task_vars = {"port": 8000, "ansible_search_path": [str(tmp_path)]}

    def find(kind, name):
        return str(tmp_path / kind / name)

    templar = Templar(loader=DataLoader(), variables=task_vars)
    return TemplateRenderer(find, lambda path: Path(path).read_text(), templar, task_vars)


@pytest.mark.parametrize(
    ("entry", "content"),
    [
        ({"path": "/etc/a", "content": "as given"}, "as given"),
        ({"path": "/etc/a", "template": "plain.j2"}, "#\n# Ansible managed\n#\nport=8000\n"),
        (
            {"path": "/etc/a", "template": "item.j2", "template_vars": {"item": "2b"}},
            "slot=2b port=8000\n",
        ),
        (
            {"path": "/etc/a", "template": "item.j2", "template_vars": {"item": 1, "port": 9}},
            "slot=1 port=9\n",
        ),
    ],
    ids=["content-kept", "template-with-managed", "import-beside-it", "own-vars-win"],
)
def test_each_file_gets_its_content(renderer, entry, content):
    rendered = renderer.render_files([dict(entry, mode="0644")])
    assert rendered == [{"path": "/etc/a", "content": content, "mode": "0644"}]


def test_content_and_template_together_are_refused(renderer):
    with pytest.raises(AnsibleActionFail, match="/etc/a: give content or template"):
        renderer.render_files([{"path": "/etc/a", "content": "x", "template": "plain.j2"}])


def test_the_task_variables_are_left_as_they_were(renderer):
    renderer.render_files([{"path": "/etc/a", "template": "item.j2", "template_vars": {"item": 1}}])
    assert "item" not in renderer.variables
    assert "ansible_managed" not in renderer.variables
