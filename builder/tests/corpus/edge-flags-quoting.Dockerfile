FROM a
COPY --from="st age" '--x=a b' a b
RUN --mount="type=cache,target=/x" echo
COPY --chown=a\ b:c d e
