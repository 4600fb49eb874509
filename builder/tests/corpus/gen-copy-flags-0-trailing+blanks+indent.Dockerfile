    FROM busybox AS src 
    RUN mkdir -p /out && echo hi > /out/a	
	

	FROM busybox
COPY --link --chmod=0644 --chown=1000:1000 a.txt /dst/	
    COPY --parents --exclude=*.tmp --exclude=cache/** src/**/*.go /app/ 	
COPY --from=src --link /out/ /out/ 	

ADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d https://example.com/file.tar.gz /tmp/ 	

	ADD --keep-git-dir=true https://github.com/moby/buildkit.git#v0.12.5 /buildkit 	

ADD --chmod=755 --link https://example.com/tool /usr/local/bin/tool	
 	
