FROM a
RUN apt-get update && \
  # install things
  apt-get install -y x && \
    # more
  echo done
