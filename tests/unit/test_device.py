"""instdiff.core.device: a job set to cuda stops with the facts and the fix when it sees no GPU; cpu is honoured."""

from __future__ import annotations

import pytest
import torch

from instdiff.core import device as dev


def test_cpu_is_returned_without_looking_for_a_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: pytest.fail("cpu must not probe CUDA"))
    assert dev.require("cpu") == "cpu"


def test_cuda_without_a_visible_gpu_stops_instead_of_falling_back(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    monkeypatch.setattr(dev, "nvidia_driver", lambda: "535.104.05")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    with pytest.raises(dev.DeviceUnavailable) as err:
        dev.require("cuda")
    msg = str(err.value)
    assert "CUDA 13.0 build" in msg and "535.104.05" in msg
    assert "PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/" in msg and "device: cpu" in msg


def test_cuda_with_a_visible_gpu_is_used(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert dev.require("cuda") == "cuda"


def test_unknown_device_names_the_config_key():
    with pytest.raises(ValueError, match="config key `device`"):
        dev.require("gpu")


@pytest.mark.parametrize(
    ("build", "driver", "visible", "fix"),
    [
        (None, "580.1", None, "install a CUDA build of torch"),
        ("13.0", None, None, "run the job on a GPU node"),
        ("13.0", "580.1", "", "the job was given no GPU"),
        ("13.0", "535.1", "0", "driver may be too old for CUDA 13.0"),
    ],
)
def test_message_names_the_fix_for_each_cause(build, driver, visible, fix):
    msg = dev.unavailable_message("2.13.0", build, driver, visible)
    assert fix in msg and msg.startswith("config device: cuda")


def test_driver_version_is_read_from_the_kernel_module_file(tmp_path, monkeypatch):
    # The format of /proc/driver/nvidia/version as the NVIDIA kernel module writes it.
    f = tmp_path / "version"
    f.write_text("NVRM version: NVIDIA UNIX x86_64 Kernel Module  570.86.15  Thu Jan 23 2025\n"
                 "GCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n")
    monkeypatch.setattr(dev, "DRIVER_FILE", f)
    assert dev.nvidia_driver() == "570.86.15"


@pytest.mark.parametrize("gpu_visible", [True, False])
def test_resolve_device_fills_only_an_open_choice(monkeypatch, gpu_visible):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpu_visible)
    assert dev.resolve_device("cpu") == "cpu" and dev.resolve_device("cuda:1") == "cuda:1"
    assert dev.resolve_device(None) == dev.resolve_device("auto") == ("cuda" if gpu_visible else "cpu")
    assert dev.resolve_device(None, gpu="cuda:0") == ("cuda:0" if gpu_visible else "cpu")
