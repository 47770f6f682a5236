"""The wheelhouse of a package and platform: the binary wheels its images install from.

A foreign platform whose venv the host's builder makes (`venv_platform`) also gets the
host's own uv and, in `python-platform`, the platform uv installs for.
"""

from __future__ import annotations

import shutil

from axion_build.build.compile import toolchain_for
from axion_build.build.context import (
    PYTHON_PLATFORM_FILE,
    requirement_texts,
    venv_platform,
    wheelhouse_dir,
)
from axion_build.config.model import PackageConfig


def fill_platform_wheelhouse(cfg: PackageConfig, platform: str) -> None:
    """doit action: the wheelhouse for the image interpreter of `platform`."""
    from axion_build.build.toolchain import probe_image
    from axion_build.build.wheels import fill_wheelhouse, uv_platform

    dest = wheelhouse_dir(cfg, platform)
    staging = dest.with_name(dest.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    requirements = staging / "requirements"
    files = []
    for relative, text in requirement_texts(cfg, platform).items():
        path = requirements / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        files.append(path)
    interpreter = toolchain_for(cfg, platform).interpreter
    fill_wheelhouse(interpreter, files, staging)
    if (maker := venv_platform(cfg, platform)) != platform:
        # the host's builder makes this venv: its own uv, told the target's platform
        host = probe_image(cfg.images.runtime_for(maker), maker, cfg.build_dir / "toolchain")
        if host.version != interpreter.version:
            raise RuntimeError(
                f"the {platform} venv cannot be made by the {maker} builder: its Python is "
                f"{interpreter.version}, the {maker} builder's {host.version}. Give both "
                f"platforms bases of one Python, or set compile.cross: false in {cfg.path} "
                f"to build it under emulation")
        fill_wheelhouse(host, [], staging)
        (staging / PYTHON_PLATFORM_FILE).write_text(uv_platform(interpreter) + "\n")
    shutil.rmtree(requirements)
    shutil.rmtree(dest, ignore_errors=True)
    staging.rename(dest)
    wheels = sorted(p.name for p in dest.glob("*.whl"))
    target = dest / PYTHON_PLATFORM_FILE
    made_for = [f"{PYTHON_PLATFORM_FILE}: {target.read_text().strip()}"] if target.is_file() else []
    wheelhouse_stamp(cfg, platform).write_text("\n".join(wheels + made_for) + "\n")


def wheelhouse_stamp(cfg: PackageConfig, platform: str):
    """The list of wheels in the wheelhouse: the context depends on it."""
    return wheelhouse_dir(cfg, platform).with_suffix(".txt")
