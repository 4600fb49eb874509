# escape=`
FROM busybox
	ENV DIRPATH=/path
    WORKDIR $DIRPATH/$DIRNAME
 WORKDIR a
	WORKDIR b
	USER patrick
 USER 1001:1001
    USER $UNAME:$GROUP
RUN <<'EOT'
pwd
EOT
