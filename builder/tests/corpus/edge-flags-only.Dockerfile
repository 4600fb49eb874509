FROM a
COPY --link
RUN --network=host
