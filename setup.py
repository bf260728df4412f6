"""Build hook: ship hardware_profiles/, workloads/ and reference/ inside the wheel.

In a source checkout (or an editable install) archsim reads these folders beside the package;
an installed wheel reads them from ``archsim/_data`` (see archsim/spec/registry.py).
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

DATA_FOLDERS = ("hardware_profiles", "workloads", "reference")


class BuildPyWithData(build_py):
    def run(self) -> None:
        super().run()
        root = Path(__file__).resolve().parent
        target = Path(self.build_lib) / "archsim" / "_data"
        for folder in DATA_FOLDERS:
            if (root / folder).is_dir():
                shutil.copytree(root / folder, target / folder, dirs_exist_ok=True)


setup(cmdclass={"build_py": BuildPyWithData})
