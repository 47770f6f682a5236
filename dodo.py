"""Axion Build on this repo's own packages: the stages in tasks/, and doit's settings."""

from axion_build.doitconfig import doit_config
from tasks.base import task_base  # noqa: F401
from tasks.compile import task_compile  # noqa: F401
from tasks.config import task_config  # noqa: F401
from tasks.deploy import task_deploy  # noqa: F401
from tasks.image import task_image  # noqa: F401
from tasks.keys import task_keys  # noqa: F401
from tasks.pipeline import task_pipeline  # noqa: F401
from tasks.push import task_push  # noqa: F401
from tasks.report import task_report  # noqa: F401
from tasks.scaffold import task_scaffold  # noqa: F401
from tasks.validate import task_validate  # noqa: F401
from tasks.verify import task_verify  # noqa: F401

DOIT_CONFIG = doit_config()
