FROM a
RUN cat <<EOF>out.txt
body
EOF>out.txt
