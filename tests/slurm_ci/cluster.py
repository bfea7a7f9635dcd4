"""A real single-node SLURM cluster for tests: munged, slurmctld and slurmd from Debian's packages.

Configuration is generated from this machine (``hostname -s``, ``nproc``, memory) into a private folder; a
fake GPU GRES (two empty files) lets GPU rules be scheduled. Daemons are stopped by the PIDs they write.
Usage: ``python tests/slurm_ci/cluster.py start DIR`` / ``stop DIR``, or :class:`SlurmCluster` in tests.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

DAEMONS = ("slurmd", "slurmctld", "munged")
# Names the overlay profile (tests/slurm_ci/config.yaml) routes to: the fake GRES has a model, like a real one.
CPU_PARTITION = "cpu"
GPU_PARTITION = "gpu"
GPU_MODEL = "fake"


def available() -> str | None:
    """None when a cluster can be started here, else the reason it cannot."""
    for exe in ("munged", "slurmctld", "slurmd", "sbatch", "squeue"):
        if shutil.which(exe) is None and not Path(f"/usr/sbin/{exe}").exists():
            return f"{exe} is not installed (apt-get install slurmctld slurmd slurm-client munge)"
    if os.geteuid() != 0:
        return "starting slurmctld/slurmd needs root"
    return None


def _exe(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


def _mem_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(int(line.split()[1]) / 1024 * 0.8)
    return 4000


def _stop_stale(conf: Path) -> None:
    """A CI cluster left by an interrupted run: stop its daemons by the PID files its configuration names."""
    settings = dict(line.split("=", 1) for line in conf.read_text().splitlines() if "=" in line and " " not in line)
    pidfiles = [settings.get("SlurmdPidFile"), settings.get("SlurmctldPidFile")]
    if settings.get("SlurmctldPidFile"):
        pidfiles.append(str(Path(settings["SlurmctldPidFile"]).with_name("munged.pid")))
    for pidfile in filter(None, pidfiles):
        try:
            os.kill(int(Path(pidfile).read_text().split()[0]), signal.SIGTERM)
        except (OSError, ValueError):
            pass
    time.sleep(1)


class SlurmCluster:
    def __init__(self, root: str | Path, conf_dir: str | Path = "/etc/slurm"):
        # Job steps (srun inside sbatch) read the standard location, not $SLURM_CONF of the submitter,
        # so the configuration goes there and is removed again by stop().
        self.root = Path(root).resolve()
        self.conf_dir = Path(conf_dir)
        self.conf = self.conf_dir / "slurm.conf"
        self.host = socket.gethostname().split(".")[0]

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def write_config(self) -> None:
        if self.conf.exists():
            if "ClusterName=instdiffci" not in self.conf.read_text():
                raise RuntimeError(f"{self.conf} exists: refusing to overwrite another cluster's configuration")
            _stop_stale(self.conf)
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        for sub in ("spool/slurmd", "state", "log", "gpu", "munge"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        for i in range(2):
            (self.root / "gpu" / f"fakegpu{i}").touch()
        cpus = os.cpu_count() or 1
        r = self.root
        self.conf.write_text(
            "\n".join(
                [
                    "ClusterName=instdiffci",
                    f"SlurmctldHost={self.host}",
                    "AuthType=auth/munge",
                    f"AuthInfo=socket={r}/munge/munge.socket.2",
                    "MpiDefault=none",
                    "ProctrackType=proctrack/linuxproc",
                    "TaskPlugin=task/none",
                    "JobAcctGatherType=jobacct_gather/none",
                    "AccountingStorageType=accounting_storage/none",
                    "SelectType=select/cons_tres",
                    "SelectTypeParameters=CR_Core_Memory",
                    "ReturnToService=2",
                    "MinJobAge=600",
                    "SlurmUser=root",
                    "SlurmdUser=root",
                    "GresTypes=gpu",
                    f"SlurmctldPidFile={r}/slurmctld.pid",
                    f"SlurmdPidFile={r}/slurmd.pid",
                    f"SlurmdSpoolDir={r}/spool/slurmd",
                    f"StateSaveLocation={r}/state",
                    f"SlurmctldLogFile={r}/log/slurmctld.log",
                    f"SlurmdLogFile={r}/log/slurmd.log",
                    f"NodeName={self.host} CPUs={cpus} RealMemory={_mem_mb()} Gres=gpu:{GPU_MODEL}:2 State=UNKNOWN",
                    # The one node serves both partitions, so the test can see where each rule was routed.
                    f"PartitionName={CPU_PARTITION} Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
                    f"PartitionName={GPU_PARTITION} Nodes=ALL MaxTime=INFINITE State=UP",
                    "",
                ]
            )
        )
        (self.conf_dir / "gres.conf").write_text(
            f"NodeName={self.host} Name=gpu Type={GPU_MODEL} File={r}/gpu/fakegpu[0-1]\n"
        )

    def start(self, timeout: float = 30.0) -> None:
        self.write_config()
        sock = self.root / "munge" / "munge.socket.2"
        subprocess.run(
            [_exe("munged"), "--force", f"--socket={sock}", f"--pid-file={self.root}/munged.pid",
             f"--log-file={self.root}/log/munged.log", f"--seed-file={self.root}/munge/seed"],
            check=True,
        )
        env = self.env
        subprocess.run([_exe("slurmctld")], check=True, env=env)
        subprocess.run([_exe("slurmd")], check=True, env=env)
        deadline = time.time() + timeout
        while time.time() < deadline:
            out = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, env=env)
            if out.stdout.strip() in {"idle", "mixed", "allocated"}:
                return
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"SLURM node did not become idle within {timeout}s; see {self.root}/log")

    def jobs(self) -> list[dict[str, str]]:
        """Every job the controller still knows (MinJobAge keeps finished ones), as `scontrol show job -o` fields."""
        out = subprocess.run(["scontrol", "show", "job", "-o"], capture_output=True, text=True, env=self.env).stdout
        records = []
        for line in out.splitlines():
            fields = {}
            for token in line.split():
                key, sep, value = token.partition("=")
                if sep:
                    fields[key] = value
            if fields:
                records.append(fields)
        return records

    def stop(self) -> None:
        for name in DAEMONS:
            pidfile = self.root / f"{name}.pid"
            if not pidfile.exists():
                continue
            try:
                os.kill(int(pidfile.read_text().split()[0]), signal.SIGTERM)
            except (ProcessLookupError, ValueError):
                pass
            pidfile.unlink(missing_ok=True)
        # Without a configuration, SLURM clients fail fast instead of waiting for a controller that is gone.
        for name in ("slurm.conf", "gres.conf"):
            (self.conf_dir / name).unlink(missing_ok=True)


if __name__ == "__main__":
    action, root = sys.argv[1], sys.argv[2]
    cluster = SlurmCluster(root)
    if action == "start":
        cluster.start()
        print(f"SLURM is up; configuration in {cluster.conf}")
    else:
        cluster.stop()
