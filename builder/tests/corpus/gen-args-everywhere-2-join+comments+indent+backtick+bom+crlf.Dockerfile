# escape=`
    ARG BASE=alpine
 ARG TAG=3.19
    FROM ${BASE}:${TAG} AS first
    ARG BASE
ARG VERSION=1.0.0
 ENV APP_VERSION=$VERSION
 RUN echo "building $APP_VERSION on $BASE"

FROM first
	ARG EXTRA
ENV EXTRA=${EXTRA:-none}
LABEL version=$APP_VERSION extra=${EXTRA}
