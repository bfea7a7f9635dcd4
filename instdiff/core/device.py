"""The compute device of a job: what the config names, or a clear stop. Never a silent fallback to the CPU.

PyPI's torch wheels are built for one CUDA version; on an older NVIDIA driver ``torch.cuda.is_available()`` is
False and a GPU job would crawl on the CPU for hours. Every GPU job calls :func:`require` instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

DEVICES = ("cuda", "cpu")
DRIVER_FILE = Path("/proc/driver/nvidia/version")
# README "Choosing the torch CUDA build": the wheel index a site points pip at when it creates the envs.
TORCH_INDEX_HINT = "https://download.pytorch.org/whl/cuXYZ"


class DeviceUnavailable(RuntimeError):
    """The config asks for a device this job cannot see."""


def nvidia_driver() -> str | None:
    """The NVIDIA driver version of this machine, or None when no driver is installed."""
    if DRIVER_FILE.exists():
        text = DRIVER_FILE.read_text(errors="replace")
        for token in text.split():
            if token[:1].isdigit() and "." in token:
                return token
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run([smi, "--query-gpu=driver_version", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return None
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.split()[0]
    return None


def unavailable_message(torch_version: str, cuda_build: str | None, driver: str | None,
                        visible: str | None) -> str:
    """Why no CUDA device is visible and what to install; pure, so every branch is testable without a GPU."""
    build = f"a CUDA {cuda_build} build" if cuda_build else "a CPU-only build"
    facts = [f"torch {torch_version} is {build}",
             f"NVIDIA driver: {driver or 'none found (no /proc/driver/nvidia/version, no nvidia-smi)'}",
             f"CUDA_VISIBLE_DEVICES={visible!r}" if visible is not None else "CUDA_VISIBLE_DEVICES unset"]
    if not cuda_build:
        fix = (f"install a CUDA build of torch: create the envs with PIP_EXTRA_INDEX_URL={TORCH_INDEX_HINT} "
               "(README, 'Choosing the torch CUDA build')")
    elif driver is None:
        fix = "run the job on a GPU node (SLURM: a GPU partition, resources gpu=1) or install the NVIDIA driver"
    elif visible == "":
        fix = "the job was given no GPU: request one (resources gpu=1, SLURM --gpus)"
    else:
        fix = (f"the driver may be too old for CUDA {cuda_build}: install the torch build that matches it "
               f"(PIP_EXTRA_INDEX_URL={TORCH_INDEX_HINT}, README 'Choosing the torch CUDA build') or update the driver")
    return ("config device: cuda, but no CUDA device is visible to this job; it stops instead of running on the "
            f"CPU. {'; '.join(facts)}. Fix: {fix}, or set `device: cpu` in the config to run on the CPU on purpose.")


def resolve_device(device: str | None = None, gpu: str = "cuda") -> str:
    """The device a caller leaves open: ``None`` or ``auto`` (the CLI's default, outside the workflow) is ``gpu``
    when torch sees one, else the CPU; a named device is returned as is.

    ``gpu`` is how the caller's library names the GPU: ``cuda`` for torch, ``cuda:0`` where an index is wanted
    (ultralytics' ``select_device``). The workflow's jobs use :func:`require` instead: no fallback there.
    """
    if device is not None and device != "auto":
        return device
    import torch

    return gpu if torch.cuda.is_available() else "cpu"


def require(device: str) -> str:
    """The torch device string for the config's ``device``; raises DeviceUnavailable when CUDA is asked but absent."""
    if device not in DEVICES:
        raise ValueError(f"device {device!r}: expected one of {', '.join(DEVICES)} (config key `device`)")
    if device == "cpu":
        return "cpu"
    import torch

    if not torch.cuda.is_available():
        raise DeviceUnavailable(unavailable_message(torch.__version__, torch.version.cuda, nvidia_driver(),
                                                    os.environ.get("CUDA_VISIBLE_DEVICES")))
    return "cuda"


def device_label(device) -> str | None:
    """What a measured time was measured on: ``cpu``, or ``cuda:0 (NVIDIA H200)`` (None: not known)."""
    if device is None:
        return None
    import torch

    device = torch.device(device)
    if device.type != "cuda":
        return str(device)
    index = device.index if device.index is not None else torch.cuda.current_device()
    return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
