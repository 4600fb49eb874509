FROM debian:bookworm-slim
RUN set -eux; \
	
	groupadd -r -g 999 redis; \
	
	useradd -r -g redis -u 999 redis
ENV REDIS_VERSION 7.2.4
ENV REDIS_DOWNLOAD_URL http://download.redis.io/releases/redis-7.2.4.tar.gz

ENV REDIS_DOWNLOAD_SHA 8d104c26a154b29fd67d6568b4f375212212ad41e0c2caa3d66480e78dbd3b59
RUN set -eux; \
# a comment inside
	\
  # indented comment
	savedAptMark="$(apt-mark showmanual)"; \

	apt-get update; \
#

	apt-get install -y --no-install-recommends \
# a comment inside
		ca-certificates \
		wget \
		dpkg-dev \
# a comment inside
		gcc \
#

		make \
  # indented comment
	; \
# a comment inside
   
	rm -rf /var/lib/apt/lists/*; \
	\

	wget -O redis.tar.gz "$REDIS_DOWNLOAD_URL"; \

	echo "$REDIS_DOWNLOAD_SHA *redis.tar.gz" | sha256sum -c -; \

	redis-server --version
RUN mkdir /data && chown redis:redis /data

VOLUME /data
WORKDIR /data
COPY docker-entrypoint.sh /usr/local/bin/

ENTRYPOINT ["docker-entrypoint.sh"]

EXPOSE 6379
CMD ["redis-server"]
