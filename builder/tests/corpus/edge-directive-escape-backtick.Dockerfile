# escape=`
FROM a
RUN echo a `
  b
COPY c:\x\ d\
