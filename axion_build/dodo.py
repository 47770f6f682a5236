"""The dodo module of a user's repo: `from axion_build.dodo import *` is the whole dodo.py."""

from axion_build.doitconfig import doit_config
from axion_build.tasks.base import task_base
from axion_build.tasks.compile import task_compile
from axion_build.tasks.config import task_config
from axion_build.tasks.deploy import task_deploy
from axion_build.tasks.image import task_image
from axion_build.tasks.keys import task_keys
from axion_build.tasks.pipeline import task_pipeline
from axion_build.tasks.push import task_push
from axion_build.tasks.report import task_report
from axion_build.tasks.scaffold import task_scaffold
from axion_build.tasks.validate import task_validate
from axion_build.tasks.verify import task_verify

DOIT_CONFIG = doit_config()

__all__ = ["DOIT_CONFIG", "task_base", "task_compile", "task_config", "task_deploy",
           "task_image", "task_keys", "task_pipeline", "task_push", "task_report", "task_scaffold",
           "task_validate", "task_verify"]
