# hello
# escape=`
FROM a
RUN a `
RUN b
