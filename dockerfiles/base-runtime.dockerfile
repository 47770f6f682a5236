# Runtime base from a bootstrapped root filesystem tarball. `docker import` ignores
# --platform, so foreign architectures are built this way to carry the right one.
FROM scratch
ADD rootfs.tar /
ENV LANG=C.UTF-8
