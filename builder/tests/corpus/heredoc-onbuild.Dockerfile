FROM a
ONBUILD RUN <<EOF
echo onbuild
EOF
ONBUILD COPY <<EOF /x
hi
EOF
RUN after
