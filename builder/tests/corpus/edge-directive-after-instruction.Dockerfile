FROM a
# escape=`
RUN a \
  b
