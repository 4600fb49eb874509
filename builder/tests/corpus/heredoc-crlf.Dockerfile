FROM a
RUN <<EOF
line one
EOF
RUN after
