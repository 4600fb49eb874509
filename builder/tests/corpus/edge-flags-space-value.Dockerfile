FROM a
COPY --from stage a b
