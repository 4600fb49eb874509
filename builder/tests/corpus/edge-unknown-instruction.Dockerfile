FROM a
RUN ok
FOO bar baz
