FROM a
COPY -from=a b c
RUN -x y
