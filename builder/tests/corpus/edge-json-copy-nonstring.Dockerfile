FROM a
COPY ["a", null]
