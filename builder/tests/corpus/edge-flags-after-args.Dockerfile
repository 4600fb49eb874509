FROM a
COPY a --from=b c
