FROM nginx
HEALTHCHECK --interval=5m --timeout=3s \
  CMD curl -f http://localhost/ || exit 1
HEALTHCHECK --interval=10s --timeout=2s --start-period=30s --start-interval=1s --retries=5 CMD ["curl", "-f", "http://localhost/"]
HEALTHCHECK NONE
