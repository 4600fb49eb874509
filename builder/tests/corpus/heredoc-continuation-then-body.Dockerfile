FROM a
RUN <<EOF \
  bash -ex
echo continued
EOF
