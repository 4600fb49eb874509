FROM a
RUN echo nbsp x
LABEL a=b c
