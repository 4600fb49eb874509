FROM a
RUN cat <<<"here string"
RUN echo done
