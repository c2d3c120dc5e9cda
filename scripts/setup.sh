#!/usr/bin/env bash
# Set up napari-sparsedecon on a fresh Debian/Ubuntu machine: system libraries
# for a headless napari viewer (OpenGL via Mesa, Xvfb, xcb), then a virtual
# environment in .venv with the package and its test tools. Idempotent.
# pocl-opencl-icd: a CPU OpenCL driver whose compiler knows recent CPUs (the
# PoCL bundled with pyopencl's wheel cannot build kernels on some of them).
set -euo pipefail
cd "$(dirname "$0")/.."

SYS_PKGS=(libgl1 libgl1-mesa-dri libglx-mesa0 libegl1 xvfb xauth libdbus-1-3
          libfontconfig1 libxkbcommon0 libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0
          libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-xinerama0 libxcb-xfixes0
          libxcb-shape0 libxcb-cursor0 ocl-icd-libopencl1 pocl-opencl-icd
          ocl-icd-opencl-dev opencl-headers g++)
missing=()
if command -v dpkg >/dev/null 2>&1; then
  for p in "${SYS_PKGS[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
fi
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: installing system packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[all,test]"
# Optional: device FFTs for OpenCL GPUs (pyvkfft builds from source). Its parity
# tests run on the CPU OpenCL device too; without it they skip with a reason.
if ! .venv/bin/python -c "import pyvkfft.opencl" >/dev/null 2>&1; then
  VKFFT_BACKEND=opencl .venv/bin/python -m pip install -q "pyvkfft>=2024.1" \
    || echo "setup: pyvkfft did not build; OpenCL FFTs will run on the host"
fi
# Optional, test environment only: psfmodels (GPL-3, never a dependency of the
# package) provides the optional vectorial model and an independent reference
# for the scalar Gibson-Lanni model in the tests.
.venv/bin/python -m pip install -q psfmodels \
  || echo "setup: psfmodels not installed; its comparison tests will skip"
echo "setup: done (.venv/bin/napari-sparsedecon, .venv/bin/napari)"
