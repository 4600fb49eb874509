FROM a
RUN a \
  b
ENV x=1
