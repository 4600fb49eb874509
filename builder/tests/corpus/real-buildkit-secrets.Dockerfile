# syntax=docker/dockerfile:1.7
FROM alpine:3.19
RUN --mount=type=secret,id=aws,target=/root/.aws/credentials \
    --mount=type=ssh \
    --network=none \
    apk add --no-cache aws-cli openssh
RUN --mount=type=bind,source=scripts,target=/scripts,ro /scripts/setup.sh
RUN --mount=type=tmpfs,target=/tmp,size=64m --security=sandbox echo tmp
