"""A small but plausible Ironic source tree for the seeded ``openstack/ironic`` repository.

A few hundred files in the real layout (drivers, conductor, API, unit tests, docs, release
notes, packaging). Python files are tiny but valid and import each other correctly, so a CI
under test can check out a seeded patch set and really run its unit tests
(``python -m unittest discover -s ironic/tests -t .``).
"""

from __future__ import annotations

import re

# The files upstream Ironic's tempest jobs ignore (zuul irrelevant-files / skip-if): a patch
# set is excluded from third-party testing only when ALL its files match.
DEFAULT_IRRELEVANT_PATTERNS: tuple[str, ...] = (
    r"^.*\.rst$",
    r"^doc/.*$",
    r"^api-ref/.*$",
    r"^releasenotes/.*$",
    r"^ironic/tests/.*$",
    r"^ironic/locale/.*$",
    r"^tools/.*$",
    r"^tox\.ini$",
)
_IRRELEVANT = re.compile("|".join(f"(?:{p})" for p in DEFAULT_IRRELEVANT_PATTERNS))

# driver name (as in the registry) -> package under ironic/drivers/modules and its modules
DRIVER_MODULES: dict[str, tuple[str, tuple[str, ...]]] = {
    "redfish": (
        "redfish",
        ("bios", "boot", "firmware", "inspect", "management", "power", "raid", "utils", "vendor"),
    ),
    "idrac": ("drac", ("bios", "boot", "inspect", "management", "power", "raid", "utils")),
    "ilo": (
        "ilo",
        (
            "bios",
            "boot",
            "common",
            "console",
            "firmware_processor",
            "inspect",
            "management",
            "power",
            "raid",
            "vendor",
        ),
    ),
    "irmc": ("irmc", ("bios", "boot", "common", "inspect", "management", "power", "raid")),
    "intel-ipmi": ("intel_ipmi", ("management",)),
    "ipmi": ("", ("ipmitool", "console_utils")),
    "snmp": ("", ("snmp",)),
    "fake-hardware": ("", ("fake",)),
}
_GENERIC_MODULES = (
    "agent", "agent_base", "agent_client", "boot_mode_utils", "deploy_utils", "image_utils",
    "inspect_utils", "ipxe", "noop", "noop_mgmt", "pxe", "pxe_base", "ramdisk", "storage",
)  # fmt: skip
_CONDUCTOR_MODULES = (
    "base_manager", "cleaning", "deployments", "inspection", "manager", "notification_utils",
    "periodics", "rpcapi", "steps", "task_manager", "utils", "verify", "servicing",
)  # fmt: skip
_API_V1_MODULES = (
    "allocation", "chassis", "conductor", "deploy_template", "driver", "node", "port",
    "portgroup", "utils", "versions", "volume",
)  # fmt: skip
_COMMON_MODULES = (
    "boot_devices", "driver_factory", "exception", "images", "neutron", "pxe_utils", "raid",
    "release_mappings", "states", "swift", "utils",
)  # fmt: skip
_CONF_MODULES = ("agent", "api", "conductor", "default", "drac", "ilo", "ipmi", "irmc", "redfish")
_DOC_PAGES = (
    "index", "admin/drivers", "admin/drivers/redfish", "admin/drivers/idrac",
    "admin/drivers/ilo", "admin/drivers/irmc", "admin/drivers/ipmitool",
    "admin/drivers/intel-ipmi", "admin/drivers/snmp", "admin/troubleshooting",
    "install/index", "install/enrollment", "contributor/index", "contributor/drivers",
    "contributor/third-party-ci", "contributor/dev-quickstart", "user/index",
)  # fmt: skip
_RELEASE_NOTES = (
    "add-redfish-firmware-interface-2f4b4e5d6c1a9b10",
    "idrac-redfish-virtual-media-3c0f2b8d9e7a6f54",
    "deprecate-irmc-031f55c3bb1fb863",
    "ilo-deprecation-8e1a2b3c4d5e6f70",
    "fix-ipmi-power-timeout-5d6e7f8091a2b3c4",
    "conductor-periodic-cleanup-9a8b7c6d5e4f3021",
    "api-node-history-0d1e2f3a4b5c6d7e",
    "snmp-deprecation-7f6e5d4c3b2a1908",
)  # fmt: skip


def is_irrelevant(path: str) -> bool:
    """True when the default exclusion rule ignores this file."""
    return _IRRELEVANT.match(path) is not None


def _class_name(module: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[_\-]", module) if part)


def _module(doc: str, name: str) -> str:
    cls = _class_name(name)
    return (
        f'"""{doc}"""\n\n\n'
        f"class {cls}:\n"
        f'    """{doc}"""\n\n'
        "    def get_properties(self) -> dict[str, str]:\n"
        f'        return {{"{name}": "{doc}"}}\n\n'
        "    def validate(self, task: object) -> None:\n"
        "        if task is None:\n"
        f'            raise ValueError("{name}: no task")\n'
    )


def _test_module(import_path: str, name: str) -> str:
    cls = _class_name(name)
    return (
        f'"""Unit tests for {import_path}."""\n\n'
        "import unittest\n\n"
        f"from {import_path.rsplit('.', 1)[0]} import {import_path.rsplit('.', 1)[1]}\n\n\n"
        f"class Test{cls}(unittest.TestCase):\n"
        "    def test_properties(self) -> None:\n"
        f"        props = {name}.{cls}().get_properties()\n"
        f'        self.assertIn("{name}", props)\n\n'
        "    def test_validate_rejects_missing_task(self) -> None:\n"
        f"        with self.assertRaises(ValueError):\n"
        f"            {name}.{cls}().validate(None)\n"
    )


def _python_package(
    files: dict[str, str], package: str, modules: tuple[str, ...], what: str
) -> None:
    files[f"{package}/__init__.py"] = ""
    for name in modules:
        files[f"{package}/{name}.py"] = _module(f"{what}: {name.replace('_', ' ')}.", name)


def _tests_for(files: dict[str, str], package: str, modules: tuple[str, ...]) -> None:
    test_dir = package.replace("ironic/", "ironic/tests/unit/", 1)
    parts = test_dir.split("/")
    for depth in range(3, len(parts) + 1):
        files.setdefault("/".join(parts[:depth]) + "/__init__.py", "")
    for name in modules:
        import_path = f"{package.replace('/', '.')}.{name}"
        files[f"{test_dir}/test_{name}.py"] = _test_module(import_path, name)


def build_tree() -> dict[str, bytes]:
    """The whole tree: path -> content. Deterministic."""
    files: dict[str, str] = {"ironic/__init__.py": '"""Bare metal provisioning."""\n'}
    files["ironic/drivers/__init__.py"] = ""
    files["ironic/drivers/base.py"] = _module("Base classes of driver interfaces.", "base")
    for hardware_type in ("generic", "fake_hardware", "ipmi", "redfish", "drac", "ilo", "irmc"):
        files[f"ironic/drivers/{hardware_type}.py"] = _module(
            f"The {hardware_type} hardware type.", hardware_type
        )
    _python_package(files, "ironic/drivers/modules", _GENERIC_MODULES, "Driver module")
    _tests_for(files, "ironic/drivers/modules", _GENERIC_MODULES)
    for driver, (package, modules) in DRIVER_MODULES.items():
        where = "ironic/drivers/modules" + (f"/{package}" if package else "")
        if package:
            _python_package(files, where, modules, f"{driver} driver")
        else:
            for name in modules:
                files[f"{where}/{name}.py"] = _module(f"{driver} driver: {name}.", name)
        _tests_for(files, where, modules)
    for package, modules, what in (
        ("ironic/conductor", _CONDUCTOR_MODULES, "Conductor"),
        ("ironic/api/controllers/v1", _API_V1_MODULES, "API v1"),
        ("ironic/common", _COMMON_MODULES, "Common"),
        ("ironic/conf", _CONF_MODULES, "Configuration options"),
    ):
        _python_package(files, package, modules, what)
        _tests_for(files, package, modules)
    _python_package(files, "ironic/api", ("app", "hooks", "method"), "API")
    _python_package(files, "ironic/api/controllers", ("base", "link", "root"), "API")
    _python_package(files, "ironic/db/sqlalchemy", ("api", "models"), "Database")
    files["ironic/db/__init__.py"] = ""
    files["ironic/tests/__init__.py"] = ""
    files["ironic/locale/de/LC_MESSAGES/ironic.po"] = 'msgid ""\nmsgstr ""\n'
    for page in _DOC_PAGES:
        title = page.rsplit("/", 1)[-1].replace("-", " ").capitalize()
        files[f"doc/source/{page}.rst"] = f"{title}\n{'=' * len(title)}\n\nAbout {title}.\n"
    files["doc/source/conf.py"] = 'project = "ironic"\n'
    files["doc/requirements.txt"] = "sphinx>=2.0.0\nopenstackdocstheme>=2.2.1\n"
    for note in _RELEASE_NOTES:
        files[f"releasenotes/notes/{note}.yaml"] = (
            f"---\nfixes:\n  - |\n    {note.rsplit('-', 1)[0].replace('-', ' ').capitalize()}.\n"
        )
    files["releasenotes/source/index.rst"] = "Ironic Release Notes\n====================\n"
    files["api-ref/source/index.rst"] = "Bare Metal API\n==============\n"
    files["api-ref/source/baremetal-api-v1-nodes.inc"] = ".. -*- rst -*-\n\nNodes\n=====\n"
    files["tools/check-releasenotes.py"] = '"""Check release note names."""\n'
    files["tools/run_bandit.sh"] = "#!/bin/sh\nbandit -r ironic -x tests\n"
    files["tox.ini"] = (
        "[tox]\nminversion = 4.0\nenvlist = py3,pep8\n\n[testenv]\n"
        "commands = python -m unittest discover -s ironic/tests -t .\n"
    )
    files["setup.cfg"] = (
        "[metadata]\nname = ironic\nsummary = OpenStack Bare Metal Provisioning\n"
        "python_requires = >=3.10\n\n[files]\npackages =\n    ironic\n"
    )
    files["setup.py"] = (
        "import setuptools\n\nsetuptools.setup(setup_requires=['pbr>=2.0.0'], pbr=True)\n"
    )
    files["requirements.txt"] = "pbr>=3.1.1\nSQLAlchemy>=1.4.0\nsushy>=4.8.0\nWebOb>=1.7.1\n"
    files["test-requirements.txt"] = "stestr>=2.0.0\nddt>=1.0.1\n"
    files["README.rst"] = "Ironic\n======\n\nOpenStack bare metal provisioning.\n"
    files["CONTRIBUTING.rst"] = "Contributing\n============\n\nSee the contributor guide.\n"
    files["LICENSE"] = "Apache License\nVersion 2.0, January 2004\n"
    files["bindep.txt"] = "ipmitool [default]\n"
    files[".gitreview"] = (
        "[gerrit]\nhost=review.opendev.org\nport=29418\nproject=openstack/ironic.git\n"
    )
    files["zuul.d/project.yaml"] = "- project:\n    templates:\n      - openstack-python3-jobs\n"
    return {path: text.encode() for path, text in sorted(files.items())}


def sandbox_tree() -> dict[str, bytes]:
    """The tiny tree of the CI sandbox project."""
    return {
        "README.rst": b"CI sandbox\n==========\n\nPush here to test your third-party CI.\n",
        "sandbox.txt": b"Edit this file to trigger CI systems.\n",
        ".gitreview": (
            b"[gerrit]\nhost=review.opendev.org\nport=29418\nproject=opendev/ci-sandbox.git\n"
        ),
    }
