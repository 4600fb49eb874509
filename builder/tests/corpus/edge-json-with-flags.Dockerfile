FROM a
COPY --chown=1:1 ["a", "/b"]
RUN --network=none ["echo", "x"]
