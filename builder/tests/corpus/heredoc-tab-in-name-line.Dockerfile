FROM a
RUN	<<EOF	cat
x
EOF
