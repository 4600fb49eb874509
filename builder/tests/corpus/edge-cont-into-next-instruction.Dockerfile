FROM a
RUN a \

FROM b
