FROM a
COPY -- --a b
RUN -- echo x
COPY --from=x -- --y z
