# Stands in for the get-pip.py that ansible-test downloads from a host outside the package
# registries this project may reach: it runs pip from the wheel bundled with Python's
# ensurepip, with the arguments ansible-test gives (which name the pip version to install
# from the package index). scripts/sanity.sh puts it where ansible-test caches that script.
import ensurepip
import glob
import os
import sys

bundled = glob.glob(os.path.join(os.path.dirname(ensurepip.__file__), "_bundled", "pip-*.whl"))
bundled += glob.glob("/usr/share/python-wheels/pip-*.whl")
sys.path.insert(0, bundled[0])
from pip._internal.cli.main import main  # noqa: E402

arguments = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(main(["install", *arguments]))
