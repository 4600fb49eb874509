FROM a
CMD ["a"] trailing
RUN ["b"]]
