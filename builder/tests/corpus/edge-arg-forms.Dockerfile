ARG a
ARG b=1
ARG c="x y" d='z' e
FROM a
ARG f=${b:-2}
ARG g==
