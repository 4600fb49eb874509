FROM a
RUN <<EOF
FROM b
RUN c
# comment

EOF
RUN d
