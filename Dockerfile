# Bazooka's AWS Lambda container image: what the indexer's deploy (Auxo) installs as the function
# `bazooka_lambda_function`, from the ECR repository `<prefix>-indexer-bazooka`.
#
#   docker build --platform linux/amd64 -t bazooka .        (or: podman build ...)
#
# Handler: bazooka.lambda_handler.handler; configure it with the original's environment variables
# (docs/operators.md, "Replacing the TypeScript Bazooka in an indexer deployment").
#
# Two stages on the same base: the builder installs a C compiler and builds Bazooka's wheel with
# the Vulcan send's C encoder (the build fails if the encoder is not built); the final stage gets
# only the installed packages, with their bytecode compiled: no compiler, no sources to build.
#
# Base: the AWS Lambda Python 3.12 image (Amazon Linux 2023), pinned by digest. Where the digest
# came from: no container registry is reachable where this was written, and the snapshot of
# github.com/aws/aws-lambda-base-images (branch python3.12, commit 384f430, 2024-10-14) carries the
# image's layers and Dockerfile but no registry digest; this one is a published public Dockerfile's
# pin from September 2026 (its base release 2023.12.20260831), not resolved here. Refresh it with
#   skopeo inspect --format '{{.Digest}}' docker://public.ecr.aws/lambda/python:3.12
# and check that the manifest's layers are AWS's (docs/operators.md says how).
#
# Size (measured 2026-12-04 with podman over the stand-in base of scripts/lambda_image.py):
# Bazooka and its packages add one layer of 85 MB to the base (uncompressed, as podman counts
# it; 23 MB of it is pglast, the plan's SQL parser, 61 MB before it); the stand-in base is
# 315 MB, the whole image 399 MB. AWS's base is about 117 MB compressed (the x86_64 layers of
# the snapshot above).
#
# The tests build this same file over a stand-in base (BASE_IMAGE), pip trusting the build
# machine's CA bundle (PIP_CERT): scripts/lambda_image.py.
ARG BASE_IMAGE=public.ecr.aws/lambda/python:3.12@sha256:beae84cc45e41c80aa709a11f702b452a8aea4141700cdbab47ac4a6c181113f

FROM ${BASE_IMAGE} AS builder
RUN dnf install -y gcc && dnf clean all
# pip's own variable, for a build behind a TLS-intercepting proxy (the tests' build sets it).
ARG PIP_CERT
WORKDIR /build
COPY pyproject.toml setup.py README.md ./
COPY src ./src
COPY scripts/build_lambda_zip.py ./scripts/
# The same installation as the zip's (one requirements filter, v4-proto without its gRPC
# dependencies, the optional bugsnag, hash-based bytecode) for this image's interpreter.
RUN python3 scripts/build_lambda_zip.py --install-into /build/task --require-c-encoder

FROM ${BASE_IMAGE}
# As the original's image: the deployment's environment relies on it.
ENV NODE_ENV=production
COPY --from=builder /build/task/ ${LAMBDA_TASK_ROOT}/
CMD ["bazooka.lambda_handler.handler"]
