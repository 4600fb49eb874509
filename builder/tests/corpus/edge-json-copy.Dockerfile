FROM a
COPY ["a b", "c", "/d e/"]
ADD ["x", "/y"]
VOLUME ["/v1", "/v 2"]
