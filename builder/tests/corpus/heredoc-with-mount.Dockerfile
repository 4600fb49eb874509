FROM a
RUN --mount=type=cache,target=/var/cache/apt <<EOF
set -e
apt-get update
EOF
