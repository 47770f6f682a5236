"""Build steps: the app tree, compiling it, image contexts, the guard, base images and keys."""
