"""The pure logic behind app_wheelhouse: platform tags, wheel names, release ids."""

import pytest
from ansible_collections.wsfleet.deploy.plugins.module_utils.wheelhouse import (
    file_sha256,
    manylinux_platforms,
    parse_wheel_name,
    release_id,
    target_key,
)


def test_target_key_names_python_cpu_and_glibc():
    target = {"python_version": "3.13", "machine": "aarch64", "glibc_version": "2.41"}
    assert target_key(target) == "cp313-aarch64-glibc2.41"


def test_manylinux_platforms_cover_every_glibc_down_to_2_17():
    tags = manylinux_platforms("x86_64", "2.36")
    assert tags[0] == "manylinux_2_36_x86_64"
    assert "manylinux_2_17_x86_64" in tags
    assert "manylinux2014_x86_64" in tags
    assert "manylinux_2_16_x86_64" not in tags
    assert len(tags) == 36 - 17 + 1 + 1


def test_manylinux_platforms_reject_a_non_glibc2_version():
    with pytest.raises(ValueError, match="glibc"):
        manylinux_platforms("x86_64", "3.1")


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("wsfleet_echo-1.0.0-py3-none-any.whl", ("wsfleet_echo", "1.0.0")),
        (
            "websockets-17.4-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            ("websockets", "17.4"),
        ),
        ("/some/dir/pkg-2.0rc1-1-py3-none-any.whl", ("pkg", "2.0rc1")),
    ],
)
def test_parse_wheel_name(filename, expected):
    assert parse_wheel_name(filename) == expected


def test_parse_wheel_name_rejects_other_files():
    with pytest.raises(ValueError, match="not a wheel"):
        parse_wheel_name("pkg-1.0.tar.gz")


def test_release_id_ignores_the_order_wheels_were_found_in():
    digests = {"a/x.whl": "11", "b/y.whl": "22"}
    reordered = dict(reversed(list(digests.items())))
    assert release_id("1.0.0", digests) == release_id("1.0.0", reordered)


def test_release_id_changes_with_any_wheel():
    before = release_id("1.0.0", {"a/x.whl": "11", "b/y.whl": "22"})
    after = release_id("1.0.0", {"a/x.whl": "11", "b/y.whl": "23"})
    assert before != after
    assert before.startswith("1.0.0-")
    assert len(before.split("-")[1]) == 12


def test_release_id_keeps_only_path_safe_characters():
    assert "/" not in release_id("1.0/evil", {"a": "1"})


def test_file_sha256(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    assert file_sha256(str(path)) == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
