"""A source build (sdist) on a machine missing a Debian -dev package stops at
CMake's configure step with a message naming the package to install. Each
dependency is hidden from CMake in turn (CMAKE_DISABLE_FIND_PACKAGE_<name>, or an
empty pkg-config search path); configure only, without the Python module, so
each case takes about a second."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from conftest import REPO

pytestmark = pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake is not installed")

CASES = {
    "openssl": (["-DCMAKE_DISABLE_FIND_PACKAGE_OpenSSL=ON"], {}, "install the Debian package libssl-dev"),
    "openssl-static": (["-DCMAKE_DISABLE_FIND_PACKAGE_OpenSSL=ON", "-DTAGGER_STATIC_DEPS=ON"], {},
                       "static libcrypto.a not found: install the Debian package libssl-dev"),
    "msgpack": (["-DCMAKE_DISABLE_FIND_PACKAGE_msgpack=ON"], {}, "install the Debian package libmsgpack-cxx-dev"),
    "eigen": (["-DCMAKE_DISABLE_FIND_PACKAGE_Eigen3=ON"], {}, "install the Debian package libeigen3-dev"),
    "sentencepiece": ([], {"PKG_CONFIG_LIBDIR": "/nonexistent"},
                      "install the Debian package libsentencepiece-dev (and pkg-config)"),
    "pkg-config": (["-DCMAKE_DISABLE_FIND_PACKAGE_PkgConfig=ON"], {},
                   "install the Debian package libsentencepiece-dev (and pkg-config)"),
    "gtest": (["-DCMAKE_DISABLE_FIND_PACKAGE_GTest=ON", "-DTAGGER_BUILD_TESTS=ON"], {},
              "install the Debian package libgtest-dev"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_missing_dependency_names_its_debian_package(tmp_path, case):
    args, env, message = CASES[case]
    proc = subprocess.run(["cmake", "-S", str(REPO), "-B", str(tmp_path), "-DTAGGER_BUILD_PYTHON=OFF", *args],
                          capture_output=True, text=True, timeout=120, env={**os.environ, **env})
    assert proc.returncode != 0
    text = re.sub(r"\s+", " ", proc.stderr)  # CMake wraps long messages
    assert message in text, proc.stderr


def test_configure_succeeds_with_every_dependency(tmp_path):
    # The negative cases above mean something only if the same configure passes.
    proc = subprocess.run(["cmake", "-S", str(REPO), "-B", str(tmp_path), "-DTAGGER_BUILD_PYTHON=OFF",
                           "-DTAGGER_STATIC_DEPS=ON"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
