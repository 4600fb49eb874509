FROM a
RUN echo \\\
RUN echo "x"
