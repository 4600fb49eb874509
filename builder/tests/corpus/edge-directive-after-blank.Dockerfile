
# escape=`
FROM a
RUN a `
RUN b
