FROM a
RUN <<EOF
echo a \
echo b
EOF
