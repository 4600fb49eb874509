FROM a
COPY <<EOF /etc/motd
welcome
EOF
