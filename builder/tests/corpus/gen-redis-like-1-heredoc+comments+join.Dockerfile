FROM debian:bookworm-slim
RUN set -eux; \
# a comment inside
	groupadd -r -g 999 redis; \
  # indented comment
	useradd -r -g redis -u 999 redis
ENV REDIS_VERSION 7.2.4
ENV REDIS_DOWNLOAD_URL http://download.redis.io/releases/redis-7.2.4.tar.gz
ENV REDIS_DOWNLOAD_SHA 8d104c26a154b29fd67d6568b4f375212212ad41e0c2caa3d66480e78dbd3b59
RUN set -eux; 	  # indented comment
	savedAptMark="$(apt-mark showmanual)"; \
# a comment inside
	apt-get update; # a comment inside
	apt-get install -y --no-install-recommends \
		ca-certificates #
		wget 		dpkg-dev 		gcc 		make # a comment inside
	; 	rm -rf /var/lib/apt/lists/*; \
# a comment inside
	\
# a comment inside
	wget -O redis.tar.gz "$REDIS_DOWNLOAD_URL"; 	echo "$REDIS_DOWNLOAD_SHA *redis.tar.gz" | sha256sum -c -;   # indented comment
	redis-server --version
RUN <<SCRIPT
mkdir /data && chown redis:redis /data
SCRIPT
VOLUME /data
WORKDIR /data
COPY docker-entrypoint.sh /usr/local/bin/
ENTRYPOINT ["docker-entrypoint.sh"]
EXPOSE 6379
CMD ["redis-server"]
