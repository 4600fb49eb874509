# escape=`
FROM a
RUN <<EOF `
  cat
win
EOF
