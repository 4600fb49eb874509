FROM a
ADD <<EOF /x
${var}
EOF
