# One image for both daemons, built from this repository:
#   docker build -t <registry>/ironlb:0.1.0 .
# ironlb-ccm runs as the image's default user (65534, nobody); the ironlb-speaker DaemonSet overrides
# runAsUser: 0, because only root gets its one added capability (NET_RAW) in the effective set.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: the ironlb wheel and the wheels of its dependencies ----------------------------------------------
FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY ironlb ./ironlb
COPY ccm ./ccm
COPY speaker ./speaker
COPY hack ./hack
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# --- runtime: the wheels installed, nothing else -------------------------------------------------------------
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="ironlb" \
      org.opencontainers.image.description="Load balancers for bare-metal Kubernetes: ironlb-ccm, ironlb-speaker, ironlbctl" \
      org.opencontainers.image.licenses="Apache-2.0"
# The daemons run with a read-only root filesystem: byte code is compiled at install time, never at run time.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels ironlb \
    && ironlb-ccm --help >/dev/null && ironlbctl --help >/dev/null
USER 65534:65534
# The manifests choose the command (ironlb-ccm or ironlb-speaker); without one, show what the image holds.
CMD ["ironlb-ccm", "--help"]
