"""The error every substrate's deploy raises when there is nothing of this build to run."""

from __future__ import annotations


class DeployError(Exception):
    """Nothing to deploy yet (an image not pushed, the registry unreachable, no compiled
    app tree, no chart)."""
