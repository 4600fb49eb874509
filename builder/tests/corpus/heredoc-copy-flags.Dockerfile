FROM a
COPY --chmod=755 --chown=1:1 <<EOF /usr/local/bin/run.sh
#!/bin/sh
echo $VAR
EOF
