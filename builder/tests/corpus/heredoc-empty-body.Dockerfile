FROM a
RUN <<EOF
EOF
RUN echo after
