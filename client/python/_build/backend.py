"""PEP 517 build backend: setuptools, found without a download.

pip builds in an isolated environment that would fetch setuptools from
the package index; this project must install offline (its machines
reach no index), so the backend is in the tree, needs nothing to be
fetched, and hands every hook to the setuptools the Python running pip
already has (Debian: python3-setuptools).
"""

import sys
import sysconfig

try:
    from setuptools import build_meta as _sb
except ImportError:
    # The isolated build environment hides the interpreter's own
    # site-packages; look there for setuptools.
    for key in ("purelib", "platlib"):
        path = sysconfig.get_paths(vars={"base": sys.base_prefix,
                                         "platbase": sys.base_prefix})[key]
        if path not in sys.path:
            sys.path.append(path)
    sys.path.append("/usr/lib/python3/dist-packages")
    from setuptools import build_meta as _sb

build_wheel = _sb.build_wheel
build_sdist = _sb.build_sdist


def get_requires_for_build_wheel(config_settings=None):
    # setuptools would ask for "wheel", which Debian's python3-wheel
    # provides already; asking would send pip to the index.
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


prepare_metadata_for_build_wheel = _sb.prepare_metadata_for_build_wheel
build_editable = getattr(_sb, "build_editable", None)


def get_requires_for_build_editable(config_settings=None):
    return []


prepare_metadata_for_build_editable = getattr(
    _sb, "prepare_metadata_for_build_editable", None)
