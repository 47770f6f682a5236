"""Publishing images: push to the registry, multi-platform manifest lists."""
