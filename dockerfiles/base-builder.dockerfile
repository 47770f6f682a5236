# Builder base: the bootstrapped runtime base plus the C toolchain and Python headers.
ARG BASE_RUNTIME_IMAGE
FROM ${BASE_RUNTIME_IMAGE}
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential python3-dev \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/*
