"""Compile CUDA source with NVRTC from the ``nvidia-cuda-nvrtc-cu12`` wheel, no GPU needed.

So a kernel that does not compile fails the tests on any machine, not first on a
customer's GPU. Only NVRTC's C API is used (through ctypes): create, compile, read the
log and the PTX."""

from __future__ import annotations

import ctypes
import os
from pathlib import Path


class NvrtcMissing(RuntimeError):
    pass


def _library() -> ctypes.CDLL:
    try:
        import nvidia.cuda_nvrtc as wheel
    except ImportError as exc:
        raise NvrtcMissing("the nvidia-cuda-nvrtc-cu12 wheel is not installed") from exc
    libdir = Path(next(iter(wheel.__path__))) / "lib"
    found = sorted(libdir.glob("libnvrtc.so.*"))
    if not found:
        raise NvrtcMissing(f"no libnvrtc.so.* in {libdir}")
    return ctypes.CDLL(os.fspath(found[0]))


def compile_ptx(source: str, name: str, arch: str = "compute_90") -> str:
    """PTX of ``source``; raises ``RuntimeError`` with NVRTC's log when it does not compile."""
    lib = _library()
    program = ctypes.c_void_p()
    check = _checker(lib)
    check(
        lib.nvrtcCreateProgram(
            ctypes.byref(program), source.encode(), f"{name}.cu".encode(), 0, None, None
        )
    )
    try:
        options = [f"--gpu-architecture={arch}".encode()]
        argv = (ctypes.c_char_p * len(options))(*options)
        result = lib.nvrtcCompileProgram(program, len(options), argv)
        log_size = ctypes.c_size_t()
        check(lib.nvrtcGetProgramLogSize(program, ctypes.byref(log_size)))
        log = ctypes.create_string_buffer(log_size.value)
        check(lib.nvrtcGetProgramLog(program, log))
        if result != 0:
            raise RuntimeError(f"NVRTC could not compile {name}:\n{log.value.decode()}")
        size = ctypes.c_size_t()
        check(lib.nvrtcGetPTXSize(program, ctypes.byref(size)))
        ptx = ctypes.create_string_buffer(size.value)
        check(lib.nvrtcGetPTX(program, ptx))
        return ptx.value.decode()
    finally:
        lib.nvrtcDestroyProgram(ctypes.byref(program))


def _checker(lib: ctypes.CDLL):  # noqa: ANN202 - a small closure
    lib.nvrtcGetErrorString.restype = ctypes.c_char_p

    def check(code: int) -> None:
        if code != 0:
            raise RuntimeError(f"NVRTC: {lib.nvrtcGetErrorString(code).decode()}")

    return check
