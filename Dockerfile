# syntax=docker/dockerfile:1
#
# llmprobe container image.
#
#   docker build -t llmprobe --build-arg VERSION=$(git describe --tags --always) .
#   docker run --rm -p 9750:9750 llmprobe                 # the demo: simulator + daemon
#   docker run --rm -p 9750:9750 -v $PWD/llmprobe.yaml:/etc/llmprobe/llmprobe.yaml:ro \
#     llmprobe run --config.file=/etc/llmprobe/llmprobe.yaml
#   docker run --rm --gpus all ...                        # the same with GPU metrics
#
# The binary is built with cgo so that the NVML collector can load
# libnvidia-ml.so.1 at run time; nothing of NVIDIA's is in the image: the
# NVIDIA container toolkit mounts the driver's library into the container
# (--gpus, or runtimeClassName: nvidia in Kubernetes). Without it llmprobe
# runs normally and exports llmprobe_gpu_up 0 (or run --no-collector.gpu).
#
# Base images are pinned by tag; pin them by digest too (@sha256:...) in
# your own builds for reproducibility.
ARG GO_IMAGE=golang:1.26-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/base-debian12:nonroot

FROM ${GO_IMAGE} AS build
WORKDIR /src
# go-nvml declares functions NVML has deprecated: keep the build log quiet.
ENV CGO_ENABLED=1 GOFLAGS="-trimpath -buildvcs=false" CGO_CFLAGS="-O2 -g -Wno-deprecated-declarations"
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/root/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
ARG REVISION=unknown
RUN --mount=type=cache,target=/root/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -ldflags "-s -w \
      -X github.com/prometheus/common/version.Version=${VERSION} \
      -X github.com/prometheus/common/version.Revision=${REVISION} \
      -X github.com/prometheus/common/version.Branch=HEAD \
      -X github.com/prometheus/common/version.BuildUser=docker" \
      -o /out/llmprobe . \
 && CGO_ENABLED=0 go build -ldflags "-s -w" -o /out/llmprobe-healthcheck ./deploy/docker/healthcheck \
 && mkdir -p /out/data

# distroless/base has glibc (which the cgo build and dlopen need), CA
# certificates and a nonroot user (65532), and no shell.
FROM ${RUNTIME_IMAGE}
COPY --from=build /out/llmprobe /usr/bin/llmprobe
COPY --from=build /out/llmprobe-healthcheck /usr/bin/llmprobe-healthcheck
COPY --from=build --chown=65532:65532 /out/data /var/lib/llmprobe
USER 65532:65532
# Run archives (global.data_dir, relative to here) go to /var/lib/llmprobe:
# mount a volume there to keep them.
WORKDIR /var/lib/llmprobe
# NVML needs only the toolkit's "utility" capability (no CUDA).
ENV NVIDIA_DRIVER_CAPABILITIES=utility
EXPOSE 9750
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/bin/llmprobe-healthcheck", "-url", "http://127.0.0.1:9750/-/healthy"]
ENTRYPOINT ["/usr/bin/llmprobe"]
# Without arguments the image runs the demo (a built-in simulated model
# server, probed every 5 s); give it `run --config.file=...` for real targets.
CMD ["demo"]
