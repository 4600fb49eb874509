FROM a
RUN echo a # not a comment \
  b
